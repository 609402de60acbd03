"""End to end with `bureau serve`, the qemu driver and BUREAU_POOL_SIZE=1.

The control plane finds the session's pool template (tests/pool/conftest.py builds it once, with
the same PoolManager code `bureau serve` runs, forwards and control-plane port included) and
prepares one slot. Two desks are then created back to back: one is restored from the slot,
resumed, enrolled and ready; the other finds the pool empty and boots cold — both work through
the proxy. The pool refills; the pooled desk, stopped and started again through the API (the
control plane's start job: a cold boot of the clone's own disks), keeps its thread and memory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.test_desk_e2e import (
    MODEL,
    Stack,
    follow_events,
    memory_texts,
    provider_keys_seen,
    run_text,
    stop_then_start,
    thread_texts,
)
from tests.helpers.wait import wait_until
from tests.pool.conftest import PoolEnv
from tests.qemu.image import ensure_image

pytestmark = [
    pytest.mark.vm,
    pytest.mark.slow,
    pytest.mark.timeout(2400),
    # The Assistants API is deprecated in the openai SDK; Bureau serves it on purpose.
    pytest.mark.filterwarnings("ignore:.*[Dd]eprecated:DeprecationWarning"),
]
TEMPLATE_TIMEOUT = 1500.0


@pytest.fixture(scope="module")
def pool_stack(
    tmp_path_factory: pytest.TempPathFactory, pool_template_env: PoolEnv
) -> Iterator[Stack]:
    shared = pool_template_env
    tmp = tmp_path_factory.mktemp("pool-e2e")
    data_dir = tmp / "data"
    ensure_image(data_dir)
    # The session's template, hard-linked into this data dir: serve finds it by its key.
    templates = data_dir / "qemu" / "pool" / "templates"
    templates.mkdir(parents=True)
    shutil.copytree(
        shared.template.path, templates / shared.template.path.name, copy_function=os.link
    )
    port = shared.control_plane_port
    token = "adm_" + secrets.token_hex(24)
    env = {
        "BUREAU_DATA_DIR": str(data_dir),
        "BUREAU_PORT": str(port),
        "BUREAU_PUBLIC_URL": f"https://127.0.0.1:{port}",
        "BUREAU_DRIVER": "qemu",
        "BUREAU_BOOTSTRAP_ADMIN_TOKEN": token,
        "BUREAU_ALLOW_HTTP_ENDPOINTS": "true",
        "BUREAU_HEALTH_TIMEOUT_SECONDS": "600",
        "BUREAU_QEMU_HOST_FORWARDS": shared.qemu_host_forwards,
        "BUREAU_QEMU_ACCEL": "tcg",
        "BUREAU_POOL_SIZE": "1",
    }
    stack = Stack(tmp, data_dir, env, f"https://127.0.0.1:{port}", token, shared.provider_url,
                  shared.provider, None)  # type: ignore[arg-type]  # fmt: skip
    try:
        stack.start_control_plane()
        yield stack
    finally:
        assert stack.control_plane is not None
        if stack.control_plane.proc.poll() is None:
            _delete_every_desk(stack)
        stack.control_plane.stop()  # the provider is the session's: it stays


def _delete_every_desk(stack: Stack) -> None:
    with stack.client() as client:
        desks = client.get("/v1/desks").json()["data"]
        for desk in desks:
            client.delete(f"/v1/desks/{desk['id']}")
    for desk in desks:
        try:
            follow_events(dataclasses.replace(stack, desk_id=desk["id"]), {"deleted"}, timeout=180)
        except AssertionError:
            pass


@pytest.fixture(scope="module")
def cold_desk(pool_stack: Stack) -> dict[str, str]:
    """The desk created while the pool was empty (filled in by the pooled-desk test)."""
    return {}


def _slots(stack: Stack) -> list[str]:
    slots = stack.data_dir / "qemu" / "pool" / "slots"
    if not slots.is_dir():
        return []
    return [p.name for p in slots.iterdir() if p.is_dir() and not p.name.endswith(".partial")]


def test_pool_prepares_a_slot_from_the_template_it_found(
    pool_stack: Stack, pool_template_env: PoolEnv
) -> None:
    wait_until(
        lambda: _slots(pool_stack), timeout=TEMPLATE_TIMEOUT, interval=5, message="a pool slot"
    )
    templates = pool_stack.data_dir / "qemu" / "pool" / "templates"
    assert [p.name for p in templates.iterdir()] == [pool_template_env.template.path.name]


def _print_timeline(events: list[dict[str, Any]]) -> None:
    """Seconds since the first event, for bench/RESULTS.md (run with -s); never asserted."""
    first = datetime.fromisoformat(events[0]["at"])
    for event in events:
        offset = (datetime.fromisoformat(event["at"]) - first).total_seconds()
        print(f"{offset:7.2f} s  {event['to_state']:<12} {event['message']}")


def _create_desk(stack: Stack, name: str) -> tuple[str, str]:
    key = f"sk-pool-{uuid.uuid4().hex}"
    with stack.client() as client:
        response = client.post(
            "/v1/desks",
            json={"name": name, "provider": "openai", "api_key": key, "model": MODEL,
                  "endpoint": stack.endpoint()},
        )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()["id"], key


def _from_the_pool(events: list[dict[str, Any]]) -> bool:
    return any((e["message"] or "").startswith("pool: resumed and enrolled") for e in events)


def test_desk_from_the_pool_becomes_ready(pool_stack: Stack, cold_desk: dict[str, str]) -> None:
    """Two desks back to back on a pool of one: one takes the slot (the refill takes seconds,
    the second desk's job starts within milliseconds), the other goes down the cold path."""
    created = [_create_desk(pool_stack, name) for name in ("first", "second")]
    first = dataclasses.replace(pool_stack, desk_id=created[0][0])
    events = follow_events(first, {"ready", "failed", "awaiting_key"})
    pooled, cold = (0, 1) if _from_the_pool(events) else (1, 0)
    pool_stack.desk_id, key = created[pooled]
    pool_stack.keys.append(key)
    cold_desk["id"], cold_desk["key"] = created[cold]
    if pooled == 1:
        events = follow_events(pool_stack, {"ready", "failed", "awaiting_key"})
    else:
        pool_stack.last_event_id = first.last_event_id
    _print_timeline(events)
    states = [e["to_state"] for e in events if e["kind"] == "transition"]
    assert states[-1] == "ready", events[-5:]
    assert _from_the_pool(events), [e["message"] for e in events]


def test_run_through_the_proxy_works_in_the_pooled_desk(pool_stack: Stack) -> None:
    client = pool_stack.openai()
    pool_stack.assistant_id = client.beta.assistants.create(model=MODEL, name="pool").id
    pool_stack.thread_id = client.beta.threads.create().id
    answer, steps = run_text(pool_stack, '[[tool:shell {"command": "cat /etc/hostname"}]]')
    calls = [
        c for s in steps if s.step_details.type == "tool_calls" for c in s.step_details.tool_calls
    ]
    shell = [c for c in calls if c.type == "function" and c.function.name == "shell"]
    assert shell, steps
    with pool_stack.client() as http:
        name = http.get(f"/v1/desks/{pool_stack.desk_id}").json()["name"]
    assert name in (shell[0].function.output or "")  # the hostname set at resume
    assert answer.startswith("tool shell returned:")
    assert pool_stack.keys[0] in provider_keys_seen(pool_stack)


def test_a_desk_created_while_the_pool_is_empty_boots_cold_and_works(
    pool_stack: Stack, cold_desk: dict[str, str]
) -> None:
    cold = dataclasses.replace(pool_stack, desk_id=cold_desk["id"], last_event_id=0)
    events = follow_events(cold, {"ready", "failed", "awaiting_key"}, timeout=1200)
    _print_timeline(events)
    assert events[-1]["to_state"] == "ready", events[-5:]
    assert not _from_the_pool(events), [e["message"] for e in events]
    client = cold.openai()
    cold.assistant_id = client.beta.assistants.create(model=MODEL, name="cold").id
    cold.thread_id = client.beta.threads.create().id
    answer, _ = run_text(cold, '[[tool:shell {"command": "uname -n"}]]')
    assert answer.startswith("tool shell returned:"), answer
    assert cold_desk["key"] in provider_keys_seen(cold)
    with cold.client() as http:
        assert http.delete(f"/v1/desks/{cold.desk_id}").status_code == 202
    follow_events(cold, {"deleted"}, timeout=300)


def test_pool_refills_after_an_assignment(pool_stack: Stack) -> None:
    wait_until(lambda: _slots(pool_stack), timeout=300, interval=2, message="a refilled slot")


def test_pooled_desk_seed_and_logs_hold_no_key(
    pool_stack: Stack, cold_desk: dict[str, str]
) -> None:
    desk_dir = pool_stack.data_dir / "qemu" / "desks" / pool_stack.desk_id
    for name in ("seed.iso", "desk.json", "console.log"):
        assert pool_stack.keys[0].encode() not in (desk_dir / name).read_bytes(), name
    log = (pool_stack.tmp / "control-plane.log").read_text()
    assert pool_stack.keys[0] not in log
    assert cold_desk["key"] not in log


def test_pooled_desk_tools_run_in_the_agent_units_sandbox_and_its_seed_has_no_pool_token(
    pool_stack: Stack,
) -> None:
    """The pooled agent (forked by the resumer, not started by bureau-agent.service) builds the
    unit's sandbox itself: its tools see /etc and /usr read-only and a private /tmp. The desk
    keeps a seed without a pool token (and the token file is gone from its directory)."""
    from orchestrator.pool.clone import SLOT_TOKEN
    from orchestrator.pool.seed import read_token_block

    command = 'awk \'$5=="/etc"||$5=="/usr"||$5=="/tmp"{print $5, $6, $4}\' /proc/self/mountinfo'
    _, steps = run_text(pool_stack, "[[tool:shell " + json.dumps({"command": command}) + "]]")
    calls = [
        c for s in steps if s.step_details.type == "tool_calls" for c in s.step_details.tool_calls
    ]
    output = next(c.function.output for c in calls if c.type == "function") or ""
    mounts = {line.split()[0]: line.split()[1:] for line in output.splitlines() if line.strip()}
    assert mounts["/etc"][0].startswith("ro"), output
    assert mounts["/usr"][0].startswith("ro"), output
    assert "bureau-agent-private-" in mounts["/tmp"][1], output
    desk_dir = pool_stack.data_dir / "qemu" / "desks" / pool_stack.desk_id
    assert read_token_block(desk_dir / "seed.iso") == ""
    assert not (desk_dir / SLOT_TOKEN).exists()


def test_a_pooled_desk_stops_starts_cold_and_keeps_its_thread_and_memory(pool_stack: Stack) -> None:
    """Stop, then the control plane's start job boots the clone's own disks cold (no pool)."""
    run_text(pool_stack, '[[tool:remember {"text": "the pool codeword is saffron"}]]')
    events = stop_then_start(pool_stack, timeout=1200)
    _print_timeline(events)
    texts = thread_texts(pool_stack)
    assert any("cat /etc/hostname" in text for text in texts), texts
    assert any("saffron" in text for text in memory_texts(pool_stack))
