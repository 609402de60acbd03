"""The unassigned agent's endpoint, served for real on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bureau_agent.pool.resume import LaunchResult
from bureau_agent.pool.server import PoolServer
from tests.pool.agent_doubles import BOOTSTRAP_TOKEN, RecordingSystem, make_resumer, resume_request

POOL_TOKEN = "pool-token-for-tests-0123456789abcdef"


@dataclass
class Running:
    url: str
    system: RecordingSystem
    server: PoolServer


def _serve(root: Path, *, enrolled: bool = True, hand_off: bool = False) -> Iterator[Running]:
    resumer, system, _ = make_resumer(root, enrolled=enrolled)
    yield from _serve_with(resumer, system, POOL_TOKEN, hand_off=hand_off)


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[Running]:
    yield from _serve(tmp_path)


def _resume(url: str, token: str = POOL_TOKEN, body: str | None = None) -> httpx.Response:
    content = body if body is not None else resume_request().model_dump_json()
    return httpx.post(
        f"{url}/pool/v1/resume",
        content=content,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        timeout=10,
    )


def test_health_says_unassigned_until_resumed(pool: Running) -> None:
    assert httpx.get(f"{pool.url}/pool/v1/health").json()["status"] == "unassigned"
    _resume(pool.url)
    assert httpx.get(f"{pool.url}/pool/v1/health").json()["status"] == "resumed"


def test_resume_without_the_pool_token_is_refused_and_changes_nothing(pool: Running) -> None:
    response = _resume(pool.url, token="wrong")
    assert response.status_code == 401
    assert pool.system.log == []
    assert _resume(pool.url).status_code == 200


def test_resume_answers_with_identity_and_step_timings(pool: Running) -> None:
    response = _resume(pool.url)
    assert response.status_code == 200
    body = response.json()
    assert body["desk_id"] == "dsk_0123456789"
    assert body["enrolled"] is True
    assert [s["name"] for s in body["steps"]][-1] == "enroll"
    assert len(body["machine_id"]) == 32


def test_second_resume_is_refused_with_409(pool: Running) -> None:
    assert _resume(pool.url).status_code == 200
    again = _resume(pool.url)
    assert again.status_code == 409
    assert pool.system.log.count("enroll") == 1


def test_bad_body_is_422_without_echoing_the_token(pool: Running) -> None:
    body = resume_request().model_dump_json().replace('"entropy_b64":"', '"entropy_b64":"!!')
    response = _resume(pool.url, body=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["entropy_b64"]
    assert BOOTSTRAP_TOKEN not in response.text
    assert _resume(pool.url).status_code == 200


def test_failed_enrollment_is_502_with_the_reason(tmp_path: Path) -> None:
    for running in _serve(tmp_path, enrolled=False):
        response = _resume(running.url)
        assert response.status_code == 502
        assert response.json()["error"] == "enrollment refused: 401"


def test_unknown_path_is_404(pool: Running) -> None:
    assert httpx.get(f"{pool.url}/v1/assistants").status_code == 404


def test_server_hands_the_port_over_after_a_successful_resume(tmp_path: Path) -> None:
    resumer, _, _ = make_resumer(tmp_path)
    server = PoolServer(("127.0.0.1", 0), resumer, POOL_TOKEN)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(server.serve_until_resumed()))
    thread.start()
    assert _resume(url, token="wrong").status_code == 401
    assert _resume(url).status_code == 200
    thread.join(timeout=10)
    server.server_close()
    assert not thread.is_alive()
    assert len(outcome) == 1


def test_a_forked_agent_closes_the_resume_connection_and_keeps_the_listening_socket(
    tmp_path: Path,
) -> None:
    seen: list[list[int]] = []
    resumer, _, launcher = make_resumer(tmp_path)
    server = PoolServer(("127.0.0.1", 0), resumer, POOL_TOKEN, hand_off=False)
    original = launcher.launch
    listening = server.fileno()

    def launch(config_file: Path) -> LaunchResult:
        seen.append(server.open_fds())
        return original(config_file)

    launcher.launch = launch  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=server.serve_until_stopped, args=(stop,), daemon=True)
    thread.start()
    try:
        assert _resume(f"http://127.0.0.1:{server.server_address[1]}").status_code == 200
    finally:
        stop.set()
        thread.join(timeout=5)
        server.server_close()
    (fds,) = seen
    assert len(fds) == 1 and fds[0] != listening  # the resume's own connection only


def test_a_seed_disk_token_is_read_per_resume_and_a_blank_block_refuses_every_resume(
    tmp_path: Path,
) -> None:
    """A qemu clone: the token is the clone's seed's last block (a template's is zeros)."""
    from bureau_agent.pool.seed_token import read_seed_token
    from orchestrator.pool.seed import token_block, write_token_block

    seed = tmp_path / "seed.iso"
    seed.write_bytes(b"\x01" * 8192 + token_block(None))
    resumer, system, _ = make_resumer(tmp_path / "root")
    server = PoolServer(("127.0.0.1", 0), resumer, lambda: read_seed_token(str(seed)))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    stop = threading.Event()
    thread = threading.Thread(target=server.serve_until_stopped, args=(stop,), daemon=True)
    thread.start()
    try:
        assert _resume(url, token="-").status_code == 401  # the template: no token, no resume
        assert system.log == []
        write_token_block(seed, POOL_TOKEN)  # the clone's copy, after the snapshot was taken
        assert _resume(url, token="wrong").status_code == 401
        assert _resume(url).status_code == 200
    finally:
        stop.set()
        thread.join(timeout=5)
        server.server_close()


def test_an_unreadable_seed_disk_refuses_the_resume(tmp_path: Path) -> None:
    from bureau_agent.pool.seed_token import read_seed_token

    resumer, system, _ = make_resumer(tmp_path)
    missing = str(tmp_path / "no-such-disk")
    for running in _serve_with(resumer, system, lambda: read_seed_token(missing)):
        assert _resume(running.url).status_code == 401
        assert system.log == []


def _serve_with(
    resumer: Any, system: RecordingSystem, token: Any, *, hand_off: bool = False
) -> Iterator[Running]:
    """A pool server on a free loopback port, in a thread, for the block's duration."""
    server = PoolServer(("127.0.0.1", 0), resumer, token, hand_off=hand_off)
    stop = threading.Event()
    thread = threading.Thread(target=server.serve_until_stopped, args=(stop,), daemon=True)
    thread.start()
    try:
        yield Running(f"http://127.0.0.1:{server.server_address[1]}", system, server)
    finally:
        stop.set()
        thread.join(timeout=5)
        server.server_close()
