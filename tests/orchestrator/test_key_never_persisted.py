"""The BYOK key is never written by the control plane: not to the database (SQLite file + WAL, or a
pg_dump), not to any file in the data dir, not to logs, not to any HTTP response body (the
enrollment response, the key's one intended delivery, excepted), not to rendered user-data."""

from __future__ import annotations

import logging
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from orchestrator.drivers.base import PermanentDriverError
from orchestrator.drivers.scripted import ScriptedDriver
from tests.fakes.fixtures import FakeProviderServer
from tests.helpers.servers import free_port
from tests.orchestrator.agent_double import AgentDouble, bootstrap_token, user_data_text
from tests.orchestrator.conftest import ControlPlane, desk_body, running_control_plane
from tests.orchestrator.helpers import create_spec, wait_state


def unique_key(prefix: str = "sk-proj-") -> str:
    return prefix + "NEVERSTORE" + uuid.uuid4().hex


class Recorder:
    """Keeps every response body a client receives."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def hook(self, response: httpx.Response) -> None:
        response.read()
        self.bodies.append(response.content)

    def client(self, cp: ControlPlane, token: str) -> httpx.Client:
        client = cp.client(token)
        client.event_hooks["response"] = [self.hook]
        return client


def persisted_bytes(database_url: str, data_dir: Path) -> bytes:
    """Every byte the control plane could have persisted: the data dir (SQLite + WAL, TLS,
    dist...) and, on PostgreSQL, a pg_dump of the database."""
    chunks = [p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file()]
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        base = Path(str(url.database))
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{base}{suffix}")
            if path.exists():
                chunks.append(path.read_bytes())
    else:
        pg_dump = shutil.which("pg_dump")
        assert pg_dump, "pg_dump is needed for this test"
        dump = subprocess.run(
            [pg_dump, "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
             "-U", url.username or "postgres", str(url.database)],
            check=True, capture_output=True,
        )  # fmt: skip
        assert b"CREATE TABLE public.desks" in dump.stdout
        chunks.append(dump.stdout)
    return b"\n".join(chunks)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def assert_absent(keys: list[str], *, blobs: list[bytes], where: str) -> None:
    for key in keys:
        for blob in blobs:
            assert key.encode() not in blob, f"a key was found in {where}"


def test_key_never_persisted_through_the_whole_lifecycle(
    tmp_path: Path,
    database_url: str,
    agent_wheel: Path,
    fake_provider: FakeProviderServer,
    logs: pytest.LogCaptureFixture,
):
    keys = {name: unique_key() for name in ("create", "embeddings", "rotate", "failing", "models")}
    keys["rejected"] = unique_key("sk-invalid-")
    recorder = Recorder()
    agent_port = free_port()
    driver = ScriptedDriver(agent_url=f"https://127.0.0.1:{agent_port}")
    overrides: dict[str, Any] = {"openai_api_base": fake_provider.openai_base_url}
    with running_control_plane(
        tmp_path, database_url, agent_wheel, driver=driver, **overrides
    ) as cp:
        token = cp.new_user("keyholder")
        with recorder.client(cp, token) as client:
            body = desk_body(
                "secretive",
                api_key=keys["create"],
                embeddings={
                    "provider": "openai",
                    "api_key": keys["embeddings"],
                    "model": "text-embedding-3-small",
                },
            )
            desk_id = client.post("/v1/desks", json=body).json()["id"]
            wait_state(client, desk_id, "booting")
            agent = AgentDouble(desk_id, tmp_path / "agent")
            enrolled = agent.enroll(cp.url, cp.ca, bootstrap_token(create_spec(cp, desk_id)))
            assert keys["create"].encode() in enrolled.content  # the one intended delivery
            with agent.serve(agent_port):
                wait_state(client, desk_id, "ready")
                rotated = client.put(
                    f"/v1/desks/{desk_id}/provider", json={"api_key": keys["rotate"]}
                )
                assert rotated.status_code == 200, rotated.text
            assert agent.provider_updates[-1].provider.api_key.get_secret_value() == keys["rotate"]
            driver.fail_next("create", PermanentDriverError("scripted failure"))
            failing = client.post("/v1/desks", json=desk_body("doomed", api_key=keys["failing"]))
            wait_state(client, failing.json()["id"], "failed")
            rejected = client.post(
                "/v1/desks", json=desk_body("rejected", api_key=keys["rejected"], verify=True)
            )
            assert rejected.status_code == 422
            models = client.post("/v1/providers/openai/models", json={"api_key": keys["models"]})
            assert models.status_code == 200, models.text
            bad = client.post(
                "/v1/desks", json={**desk_body("x"), "api_key": 1, "extra": keys["models"]}
            )
            assert bad.status_code == 422
            for listed in client.get("/v1/desks").json()["data"]:
                client.delete(f"/v1/desks/{listed['id']}")
            wait_state(client, desk_id, "deleted")
            client.get(f"/v1/desks/{desk_id}/events", params={"follow": "false"})
        user_data = [user_data_text(c.spec).encode() for c in driver.calls if c.spec]
        data_dir = cp.settings.data_dir
    secrets = list(keys.values())
    storage = persisted_bytes(database_url, data_dir)
    assert b"secretive" in storage  # the scan does see the desk's row
    assert_absent(secrets, blobs=[storage], where="storage")
    assert_absent(secrets, blobs=[logs.text.encode()], where="logs")
    assert_absent(secrets, blobs=recorder.bodies, where="HTTP responses")
    assert_absent(secrets, blobs=user_data, where="rendered user-data")
    assert len(recorder.bodies) > 10 and user_data


def test_key_never_persisted_after_a_crash_mid_provisioning(
    tmp_path: Path, database_url: str, agent_wheel: Path, logs: pytest.LogCaptureFixture
):
    key = unique_key()
    agent_port = free_port()
    first = ScriptedDriver(agent_url=f"https://127.0.0.1:{agent_port}")
    first.hold("create")
    with running_control_plane(tmp_path, database_url, agent_wheel, driver=first) as cp:
        token = cp.new_user("crashy")
        with cp.client(token) as client:
            desk_id = client.post("/v1/desks", json=desk_body(api_key=key)).json()["id"]
            create_spec(cp, desk_id)  # the machine is being created when the process "dies"
        crashed_storage = persisted_bytes(database_url, cp.settings.data_dir)
    first.release("create")
    assert key.encode() not in crashed_storage
    # A new process: empty escrow; the reaper re-queues the job, the agent enrolls without key.
    second = ScriptedDriver(agent_url=f"https://127.0.0.1:{agent_port}")
    with running_control_plane(
        tmp_path, database_url, agent_wheel, driver=second, job_stale_seconds=1.0, fresh_admin=False
    ) as cp:
        with cp.client(token) as client:
            wait_state(client, desk_id, "booting")
            agent = AgentDouble(desk_id, tmp_path / "agent")
            response = agent.enroll(cp.url, cp.ca, bootstrap_token(create_spec(cp, desk_id)))
            assert response.status_code == 200
            assert agent.enrolled is not None and agent.enrolled.provider is None
            desk = wait_state(client, desk_id, "awaiting_key")
        storage = persisted_bytes(database_url, cp.settings.data_dir)
    assert desk["reason"] is None
    assert key.encode() not in storage
    assert key not in logs.text
