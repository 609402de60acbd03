"""Vector stores, vector store files and file batches through the official SDK."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from tests.agent_retrieval.conftest import Agent, AgentFactory, upload
from tests.agent_retrieval.documents import EXPECTED_WORDS, SUPPORTED
from tests.helpers.wait import wait_until


def test_each_supported_type_is_indexed_and_unsupported_fails(agent: Agent, tmp_path: Path) -> None:
    ids = {name: upload(agent, tmp_path, name, body) for name, body in SUPPORTED.items()}
    ids["image.png"] = upload(agent, tmp_path, "image.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    store = agent.client.vector_stores.create(name="all types", file_ids=list(ids.values()))
    done = agent.wait_store(store.id)
    assert done.file_counts.completed == len(SUPPORTED) and done.file_counts.failed == 1
    failed = agent.client.vector_stores.files.retrieve(ids["image.png"], vector_store_id=store.id)
    assert failed.status == "failed" and failed.last_error is not None
    assert failed.last_error.code == "unsupported_file"
    for name, word in EXPECTED_WORDS.items():
        content = agent.client.vector_stores.files.content(ids[name], vector_store_id=store.id)
        assert word in "".join(part.text or "" for part in content), name


def test_html_extraction_drops_scripts_and_styles(agent: Agent, tmp_path: Path) -> None:
    file_id = upload(agent, tmp_path, "page.html", SUPPORTED["page.html"])
    store = agent.client.vector_stores.create(file_ids=[file_id])
    agent.wait_store(store.id)
    text = "".join(
        p.text or ""
        for p in agent.client.vector_stores.files.content(file_id, vector_store_id=store.id)
    )
    assert "forty euros" in text and "javascript secret" not in text and "color:red" not in text


def test_invalid_json_file_fails_as_invalid_file(agent: Agent, tmp_path: Path) -> None:
    file_id = upload(agent, tmp_path, "broken.json", "{not json")
    store = agent.client.vector_stores.create(file_ids=[file_id])
    agent.wait_store(store.id)
    vs_file = agent.client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)
    assert vs_file.last_error is not None and vs_file.last_error.code == "invalid_file"


def test_store_reports_counts_usage_and_chunking(agent: Agent, tmp_path: Path) -> None:
    file_id = upload(agent, tmp_path, "a.txt", "alpha beta gamma " * 200)
    store = agent.client.vector_stores.create(
        name="kb",
        file_ids=[file_id],
        metadata={"team": "infra"},
        expires_after={"anchor": "last_active_at", "days": 7},
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50},
        },
    )
    assert store.object == "vector_store" and store.metadata == {"team": "infra"}
    done = agent.wait_store(store.id)
    assert done.status == "completed" and done.file_counts.total == 1
    assert done.usage_bytes >= 600 * 5
    assert done.expires_after is not None and done.expires_after.days == 7
    assert done.expires_at == done.last_active_at + 7 * 86400
    vs_file = agent.client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)
    assert vs_file.chunking_strategy is not None and vs_file.chunking_strategy.type == "static"
    assert vs_file.chunking_strategy.static.max_chunk_size_tokens == 200  # type: ignore[union-attr]
    assert vs_file.usage_bytes == done.usage_bytes


def test_auto_chunking_is_reported_as_static_800_400(agent: Agent, tmp_path: Path) -> None:
    file_id = upload(agent, tmp_path, "a.txt", "short text")
    store = agent.client.vector_stores.create(
        file_ids=[file_id], chunking_strategy={"type": "auto"}
    )
    vs_file = agent.client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)
    strategy = vs_file.chunking_strategy
    assert strategy is not None and strategy.type == "static"
    assert strategy.static.max_chunk_size_tokens == 800  # type: ignore[union-attr]
    assert strategy.static.chunk_overlap_tokens == 400  # type: ignore[union-attr]


def test_list_modify_and_delete_stores(agent: Agent) -> None:
    a = agent.client.vector_stores.create(name="a")
    b = agent.client.vector_stores.create(name="b")
    first = agent.client.vector_stores.list(limit=1)
    assert [s.id for s in first.data] == [b.id] and first.has_more
    assert [s.id for s in agent.client.vector_stores.list(order="asc")] == [a.id, b.id]
    renamed = agent.client.vector_stores.update(a.id, name="renamed", metadata={"k": "v"})
    assert renamed.name == "renamed" and renamed.metadata == {"k": "v"}
    assert agent.client.vector_stores.delete(a.id).deleted
    with pytest.raises(openai.NotFoundError):
        agent.client.vector_stores.retrieve(a.id)


def test_vector_store_files_create_list_filter_update_delete(agent: Agent, tmp_path: Path) -> None:
    good = upload(agent, tmp_path, "good.md", "# Good\nuseful words here")
    bad = upload(agent, tmp_path, "bad.exe", b"MZ\x00\x00binary")
    store = agent.client.vector_stores.create(name="files")
    created = agent.client.vector_stores.files.create(
        vector_store_id=store.id, file_id=good, attributes={"lang": "en", "year": 2024}
    )
    assert created.object == "vector_store.file" and created.attributes == {
        "lang": "en",
        "year": 2024,
    }
    agent.client.vector_stores.files.create(vector_store_id=store.id, file_id=bad)
    agent.wait_store(store.id)
    completed = agent.client.vector_stores.files.list(store.id, filter="completed")
    failed = agent.client.vector_stores.files.list(store.id, filter="failed")
    assert [f.id for f in completed] == [good] and [f.id for f in failed] == [bad]
    updated = agent.client.vector_stores.files.update(
        good, vector_store_id=store.id, attributes={"lang": "fr"}
    )
    assert updated.attributes == {"lang": "fr"}
    assert agent.client.vector_stores.files.delete(good, vector_store_id=store.id).deleted
    after = agent.client.vector_stores.retrieve(store.id)
    assert after.file_counts.total == 1 and after.file_counts.completed == 0
    assert agent.client.files.retrieve(good).id == good  # the file itself stays


def test_deleting_a_file_detaches_it_from_stores(agent: Agent, tmp_path: Path) -> None:
    file_id = upload(agent, tmp_path, "x.txt", "content about zebras")
    store = agent.client.vector_stores.create(file_ids=[file_id])
    agent.wait_store(store.id)
    agent.client.files.delete(file_id)
    after = agent.client.vector_stores.retrieve(store.id)
    assert after.file_counts.total == 0 and after.usage_bytes == 0
    assert agent.client.vector_stores.search(store.id, query="zebras").data == []


def test_file_batch_create_retrieve_and_list_files(agent: Agent, tmp_path: Path) -> None:
    ids = [upload(agent, tmp_path, f"doc{i}.txt", f"document number {i}") for i in range(3)]
    store = agent.client.vector_stores.create(name="batches")
    batch = agent.client.vector_stores.file_batches.create(
        vector_store_id=store.id, file_ids=ids, attributes={"source": "batch"}
    )
    assert batch.object == "vector_store.files_batch" and batch.file_counts.total == 3
    batches = agent.client.vector_stores.file_batches
    wait_until(
        lambda: batches.retrieve(batch.id, vector_store_id=store.id).status == "completed",
        timeout=30,
    )
    done = batches.retrieve(batch.id, vector_store_id=store.id)
    assert done.file_counts.completed == 3
    listed = agent.client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    assert sorted(f.id for f in listed) == sorted(ids)
    assert all(f.attributes == {"source": "batch"} for f in listed)


def test_cancelling_a_finished_batch_is_refused(agent: Agent, tmp_path: Path) -> None:
    file_id = upload(agent, tmp_path, "a.txt", "text")
    store = agent.client.vector_stores.create()
    batch = agent.client.vector_stores.file_batches.create(
        vector_store_id=store.id, file_ids=[file_id]
    )
    agent.wait_store(store.id)
    with pytest.raises(openai.BadRequestError):
        agent.client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)


def test_cancelling_an_in_progress_batch_cancels_its_files(
    start_agent: AgentFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUREAU_INGEST_WORKERS", "0")  # nothing is processed: the batch stays open
    with start_agent() as running:
        ids = [upload(running, tmp_path, f"d{i}.txt", f"doc {i}") for i in range(2)]
        store = running.client.vector_stores.create()
        batch = running.client.vector_stores.file_batches.create(
            vector_store_id=store.id, file_ids=ids
        )
        assert batch.status == "in_progress"
        cancelled = running.client.vector_stores.file_batches.cancel(
            batch.id, vector_store_id=store.id
        )
        assert cancelled.status == "cancelled" and cancelled.file_counts.cancelled == 2
        assert running.client.vector_stores.retrieve(store.id).file_counts.cancelled == 2


def test_store_expires_after_its_idle_days_and_refuses_search(start_agent: AgentFactory) -> None:
    now = [1_800_000_000.0]
    with start_agent(clock=lambda: now[0]) as running:
        store = running.client.vector_stores.create(
            expires_after={"anchor": "last_active_at", "days": 1}
        )
        running.client.vector_stores.search(store.id, query="anything")  # activity
        now[0] += 86_400 + 1
        assert running.client.vector_stores.retrieve(store.id).status == "expired"
        with pytest.raises(openai.BadRequestError):
            running.client.vector_stores.search(store.id, query="anything")


def test_azure_prefix_serves_the_same_stores(agent: Agent) -> None:
    store = agent.client.vector_stores.create(name="azure")
    response = httpx.get(f"{agent.url}/openai/vector_stores/{store.id}?api-version=2024-05-01")
    assert response.status_code == 200 and response.json()["name"] == "azure"


def test_files_in_progress_at_shutdown_are_ingested_after_restart(
    start_agent: AgentFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUREAU_INGEST_WORKERS", "0")  # the first agent never gets to them
    with start_agent() as first:
        file_id = upload(first, tmp_path, "later.txt", "indexed only after the restart")
        store = first.client.vector_stores.create(file_ids=[file_id])
        assert first.client.vector_stores.retrieve(store.id).status == "in_progress"
    monkeypatch.setenv("BUREAU_INGEST_WORKERS", "2")
    with start_agent(data_dir=first.data_dir) as second:
        done = second.wait_store(store.id)
        assert done.file_counts.completed == 1
        found = second.client.vector_stores.search(store.id, query="restart")
        assert [r.file_id for r in found.data] == [file_id]


def test_adding_a_file_again_replaces_its_chunks(agent: Agent, tmp_path: Path) -> None:
    file_id = upload(agent, tmp_path, "once.txt", "a single chunk about kiwis")
    store = agent.client.vector_stores.create(file_ids=[file_id])
    agent.wait_store(store.id)
    agent.client.vector_stores.files.create(
        vector_store_id=store.id, file_id=file_id, attributes={"v": 2}
    )
    done = agent.wait_store(store.id)
    found = agent.client.vector_stores.search(store.id, query="kiwis")
    assert len(found.data) == 1 and found.data[0].attributes == {"v": 2}
    assert done.file_counts.total == 1
