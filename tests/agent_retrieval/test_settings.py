"""Files, vector store and memory settings come from the agent's ``--config`` file like its other
settings (the environment still works, see test_files/test_vector_stores), and are validated."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from pydantic import ValidationError

from bureau_agent.config import load_config
from tests.agent_retrieval.conftest import CHAT_MODEL, AgentFactory, upload
from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider_replies import Text

pytestmark = [
    pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The Assistants API is deprecated:DeprecationWarning"),
]

SETTINGS = ("BUREAU_MEMORY_TOP_K", "BUREAU_MEMORY_MIN_SCORE", "BUREAU_MEMORY_MAX_ITEMS",
            "BUREAU_INGEST_WORKERS", "BUREAU_MAX_UPLOAD_BYTES")  # fmt: skip


@pytest.fixture(autouse=True)
def _no_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def env_file(tmp_path: Path, **settings: object) -> Path:
    path = tmp_path / "agent.env"
    path.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    return path


def test_config_file_sets_every_retrieval_setting(tmp_path: Path) -> None:
    config = load_config(
        env_file(
            tmp_path,
            BUREAU_MEMORY_TOP_K=7,
            BUREAU_MEMORY_MIN_SCORE=0.55,
            BUREAU_MEMORY_MAX_ITEMS=1200,
            BUREAU_INGEST_WORKERS=2,
            BUREAU_MAX_UPLOAD_BYTES=4096,
        )
    )
    assert (config.memory_top_k, config.memory_min_score, config.memory_max_items) == (
        7,
        0.55,
        1200,
    )
    assert (config.ingest_workers, config.max_upload_bytes) == (2, 4096)


def test_environment_wins_over_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUREAU_MEMORY_TOP_K", "5")
    assert load_config(env_file(tmp_path, BUREAU_MEMORY_TOP_K=1)).memory_top_k == 5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BUREAU_MEMORY_TOP_K", "21"),
        ("BUREAU_MEMORY_TOP_K", "-1"),
        ("BUREAU_MEMORY_MIN_SCORE", "1.5"),
        ("BUREAU_MEMORY_MAX_ITEMS", "9"),
        ("BUREAU_INGEST_WORKERS", "many"),
        ("BUREAU_MAX_UPLOAD_BYTES", "0"),
        ("BUREAU_MAX_UPLOAD_BYTES", str(512 * 1024 * 1024 + 1)),
    ],
)
def test_out_of_range_setting_is_refused_with_its_name(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(ValidationError, match=name):
        load_config(env_file(tmp_path, **{name: value}))


def test_upload_limit_from_the_config_file_is_enforced(
    start_agent: AgentFactory, tmp_path: Path
) -> None:
    with start_agent(env_file=env_file(tmp_path, BUREAU_MAX_UPLOAD_BYTES=1024)) as running:
        path = tmp_path / "big.txt"
        path.write_bytes(b"a" * 4096)
        with pytest.raises(openai.BadRequestError) as caught, path.open("rb") as handle:
            running.client.files.create(file=handle, purpose="assistants")
        assert caught.value.body["param"] == "file"  # type: ignore[index]


def test_zero_ingest_workers_from_the_config_file_leave_files_queued(
    start_agent: AgentFactory, tmp_path: Path
) -> None:
    with start_agent(env_file=env_file(tmp_path, BUREAU_INGEST_WORKERS=0)) as running:
        file_id = upload(running, tmp_path, "queued.txt", "waits for a worker")
        store = running.client.vector_stores.create(file_ids=[file_id])
        assert running.client.vector_stores.retrieve(store.id).file_counts.in_progress == 1


def test_memory_top_k_zero_from_the_config_file_recalls_nothing(
    start_agent: AgentFactory, tmp_path: Path, fake_provider: FakeProviderServer
) -> None:
    with start_agent(env_file=env_file(tmp_path, BUREAU_MEMORY_TOP_K=0)) as running:
        running.desk("POST", "/memory", json={"text": "The billing service is written in Elixir."})
        fake_provider.provider.queue(CHAT_MODEL, Text("ok"))
        assistant = running.client.beta.assistants.create(model=CHAT_MODEL)
        thread = running.client.beta.threads.create(
            messages=[{"role": "user", "content": "What is the billing service written in?"}]
        )
        run = running.client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
        )
        assert run.status == "completed", run.last_error
    chats = [r for r in fake_provider.provider.requests if r.path.endswith("/chat/completions")]
    system = [m for m in chats[-1].json["messages"] if m["role"] == "system"]
    assert "Elixir" not in str(system)


def test_memory_max_items_from_the_config_file_bounds_the_memories(
    start_agent: AgentFactory, tmp_path: Path
) -> None:
    with start_agent(env_file=env_file(tmp_path, BUREAU_MEMORY_MAX_ITEMS=10)) as running:
        for i in range(12):
            assert running.desk("POST", "/memory", json={"text": f"fact {i}"}).status_code == 200
        kept = running.desk("GET", "/memory", params={"limit": "100"}).json()["data"]
    assert len(kept) == 10
