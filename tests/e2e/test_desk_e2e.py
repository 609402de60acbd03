"""The whole product on this host: `bureau serve` (HTTPS) + qemu driver + a real desk VM.

The fake LLM provider runs on the host and is forwarded into the VM (BUREAU_QEMU_HOST_FORWARDS);
the guest calls it at http://10.0.2.100:<port>. Tests share one desk and run in file order:
ready -> tool run -> key delivery -> rotation -> stop/start -> control-plane restart -> delete ->
scan for keys.
"""

from __future__ import annotations

import asyncio
import json
import platform
import secrets
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from orchestrator.drivers import qemu_proc
from orchestrator.drivers.qemu import QemuDriver
from tests.e2e.processes import Process, start_control_plane, start_fake_provider
from tests.helpers.servers import free_port
from tests.helpers.wait import wait_until
from tests.qemu.image import ensure_image

pytestmark = [
    pytest.mark.vm,
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    # The official SDK marks its Assistants surface deprecated; the agent implements it on purpose.
    pytest.mark.filterwarnings("ignore:The Assistants API is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning"),
]
READY_TIMEOUT = 1500.0
MODEL = "gpt-4o"


@dataclass
class Stack:
    tmp: Path
    data_dir: Path
    env: dict[str, str]
    url: str
    token: str
    provider_url: str
    provider: Process
    control_plane: Process | None = None
    keys: list[str] = field(default_factory=list)
    desk_id: str = ""
    thread_id: str = ""
    assistant_id: str = ""
    seed_bytes: bytes = b""
    qemu_pid: int = 0
    last_event_id: int = 0

    @property
    def ca(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            verify=self.tls(),
            timeout=60,
        )

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.url}/v1/desks/{self.desk_id}/agent/v1",
            api_key=self.token,
            http_client=openai.DefaultHttpxClient(verify=self.tls(), timeout=300),
        )

    def stop_control_plane(self) -> None:
        if self.control_plane is not None:
            self.control_plane.stop()

    def start_control_plane(self) -> None:
        self.control_plane = start_control_plane(
            self.env, self.tmp / "control-plane.log", self.url, self.token, self.ca
        )

    def endpoint(self) -> str:
        port = self.provider_url.rsplit(":", 1)[1]
        return f"http://10.0.2.100:{port}/v1/chat/completions"


def follow_events(
    stack: Stack, until: set[str], timeout: float = READY_TIMEOUT
) -> list[dict[str, Any]]:
    """Read the desk's SSE stream, after the last event seen, until a transition into ``until``."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    url = f"/v1/desks/{stack.desk_id}/events"
    params = {"after": stack.last_event_id}
    with (
        stack.client() as client,
        client.stream("GET", url, params=params, timeout=httpx.Timeout(60, read=60)) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                events.append(event)
                stack.last_event_id = int(event["id"])
                if event["kind"] == "transition" and event["to_state"] in until:
                    return events
            if time.monotonic() > deadline:
                break
    raise AssertionError(f"no transition into {until} within {timeout:.0f}s: {events[-5:]}")


def run_text(stack: Stack, text: str) -> tuple[str, list[Any]]:
    """One run on the shared thread; returns the assistant's answer and the run's steps."""
    client = stack.openai()
    client.beta.threads.messages.create(stack.thread_id, role="user", content=text)
    run = client.beta.threads.runs.create_and_poll(
        thread_id=stack.thread_id, assistant_id=stack.assistant_id, poll_interval_ms=500
    )
    assert run.status == "completed", run.last_error
    messages = client.beta.threads.messages.list(stack.thread_id, order="desc", limit=1)
    answer = messages.data[0].content[0]
    assert answer.type == "text"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=stack.thread_id)
    return answer.text.value, list(steps.data)


def provider_keys_seen(stack: Stack) -> list[str]:
    requests = httpx.get(f"{stack.provider_url}/_fake/requests", timeout=10).json()
    items = requests["data"] if isinstance(requests, dict) else requests
    seen = []
    for item in items:
        headers = {k.lower(): v for k, v in item.get("headers", {}).items()}
        auth = headers.get("authorization", "")
        if auth.startswith("Bearer "):
            seen.append(auth[7:])
    return seen


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    data_dir = tmp / "data"
    ensure_image(data_dir)
    provider, provider_url = start_fake_provider(tmp / "provider.log")
    port = free_port()
    token = "adm_" + secrets.token_hex(24)
    env = {
        "BUREAU_DATA_DIR": str(data_dir),
        "BUREAU_PORT": str(port),
        "BUREAU_PUBLIC_URL": f"https://127.0.0.1:{port}",
        "BUREAU_DRIVER": "qemu",
        "BUREAU_BOOTSTRAP_ADMIN_TOKEN": token,
        "BUREAU_ALLOW_HTTP_ENDPOINTS": "true",
        "BUREAU_HEALTH_TIMEOUT_SECONDS": "1500",
        "BUREAU_QEMU_HOST_FORWARDS": "127.0.0.1:" + provider_url.rsplit(":", 1)[1],
        "BUREAU_QEMU_STOP_TIMEOUT_SECONDS": "120",
    }
    stack = Stack(tmp, data_dir, env, f"https://127.0.0.1:{port}", token, provider_url, provider)
    try:
        stack.start_control_plane()
        yield stack
    finally:
        running = stack.control_plane is not None and stack.control_plane.proc.poll() is None
        if stack.desk_id and running:
            with stack.client() as client:
                client.delete(f"/v1/desks/{stack.desk_id}")
            try:
                follow_events(stack, {"deleted"}, timeout=180)
            except AssertionError:
                pass
        stack.stop_control_plane()
        provider.stop()
        leftover = QemuDriver(data_dir)  # never leave a VM behind, whatever failed above
        for machine in asyncio.run(leftover.list_managed()):
            asyncio.run(leftover.destroy(machine.desk_id, lambda _: None))


def test_desk_becomes_ready_through_its_events(stack: Stack) -> None:
    key = f"sk-e2e-{uuid.uuid4().hex}"
    stack.keys.append(key)
    with stack.client() as client:
        response = client.post(
            "/v1/desks",
            json={"name": "e2e", "provider": "openai", "api_key": key, "model": MODEL,
                  "endpoint": stack.endpoint()},
        )  # fmt: skip
    assert response.status_code == 201, response.text
    stack.desk_id = response.json()["id"]
    events = follow_events(stack, {"ready", "failed", "awaiting_key"})
    states = [e["to_state"] for e in events if e["kind"] == "transition"]
    assert states[-1] == "ready", events[-5:]
    assert {"provisioning", "booting", "enrolling"} <= set(states)
    assert any("accelerator: " in (e["message"] or "") for e in events)


def test_seed_iso_holds_no_key(stack: Stack) -> None:
    seed = stack.data_dir / "qemu" / "desks" / stack.desk_id / "seed.iso"
    stack.seed_bytes = seed.read_bytes()
    assert b"#cloud-config" in stack.seed_bytes
    assert stack.keys[0].encode() not in stack.seed_bytes


def test_shell_tool_runs_uname_inside_the_vm(stack: Stack) -> None:
    client = stack.openai()
    stack.assistant_id = client.beta.assistants.create(model=MODEL, name="e2e").id
    stack.thread_id = client.beta.threads.create().id
    answer, steps = run_text(stack, '[[tool:shell {"command": "uname -a"}]]')
    calls = [
        c for s in steps if s.step_details.type == "tool_calls" for c in s.step_details.tool_calls
    ]
    shell = [c for c in calls if c.type == "function" and c.function.name == "shell"]
    assert shell, steps
    output = shell[0].function.output or ""
    assert "Linux" in output and "cloud-amd64" in output
    assert platform.node() not in output.split()  # ran in the VM, not on this host
    assert answer.startswith("tool shell returned:")


def test_provider_received_the_key_from_inside_the_vm(stack: Stack) -> None:
    assert stack.keys[0] in provider_keys_seen(stack)


def test_rotated_key_is_used_by_the_next_run(stack: Stack) -> None:
    new_key = f"sk-e2e-rotated-{uuid.uuid4().hex}"
    stack.keys.append(new_key)
    with stack.client() as client:
        response = client.put(
            f"/v1/desks/{stack.desk_id}/provider",
            json={"provider": "openai", "api_key": new_key, "model": MODEL,
                  "endpoint": stack.endpoint()},
        )  # fmt: skip
    assert response.status_code == 200, response.text
    httpx.post(f"{stack.provider_url}/_fake/reset", timeout=10)
    answer, _ = run_text(stack, "hello after rotation")
    assert answer == "echo: hello after rotation"
    assert provider_keys_seen(stack) == [new_key]


def stop_then_start(stack: Stack, timeout: float = READY_TIMEOUT) -> list[dict[str, Any]]:
    """Stop the desk through the API, see it stopped, start it; its events until ``ready``."""
    with stack.client() as client:
        assert client.post(f"/v1/desks/{stack.desk_id}/stop").status_code == 202
        follow_events(stack, {"stopped", "failed"})
        assert client.get(f"/v1/desks/{stack.desk_id}").json()["state"] == "stopped"
        assert client.post(f"/v1/desks/{stack.desk_id}/start").status_code == 202
    events = follow_events(stack, {"ready", "failed", "awaiting_key"}, timeout=timeout)
    assert events[-1]["to_state"] == "ready", events[-5:]
    return events


def thread_texts(stack: Stack) -> list[str]:
    messages = stack.openai().beta.threads.messages.list(stack.thread_id, order="asc")
    return [m.content[0].text.value for m in messages.data if m.content[0].type == "text"]


def memory_texts(stack: Stack) -> list[str]:
    with stack.client() as client:
        memory = client.get(f"/v1/desks/{stack.desk_id}/agent/desk/v1/memory")
    assert memory.status_code == 200, memory.text
    return [item["text"] for item in memory.json()["data"]]


def test_stop_and_start_keep_the_thread_and_a_memory(stack: Stack) -> None:
    run_text(stack, '[[tool:remember {"text": "the e2e codeword is heliotrope"}]]')
    stop_then_start(stack)
    assert "hello after rotation" in thread_texts(stack)
    assert any("heliotrope" in text for text in memory_texts(stack))


def test_control_plane_restart_readopts_the_running_desk(stack: Stack) -> None:
    pidfile = stack.data_dir / "qemu" / "desks" / stack.desk_id / "qemu.pid"
    stack.qemu_pid = int(pidfile.read_text())
    stack.stop_control_plane()
    assert qemu_proc.alive(stack.qemu_pid)  # the VM outlives the control plane
    stack.start_control_plane()
    with stack.client() as client:
        assert client.get(f"/v1/desks/{stack.desk_id}").json()["state"] == "ready"
    assistants = stack.openai().beta.assistants.list()
    assert [a.id for a in assistants.data] == [stack.assistant_id]
    assert int(pidfile.read_text()) == stack.qemu_pid


def test_delete_leaves_no_process_and_no_file(stack: Stack) -> None:
    with stack.client() as client:
        assert client.delete(f"/v1/desks/{stack.desk_id}").status_code == 202
    follow_events(stack, {"deleted"})
    wait_until(lambda: not qemu_proc.alive(stack.qemu_pid), timeout=60)
    assert not (stack.data_dir / "qemu" / "desks" / stack.desk_id).exists()
    leftovers = list((stack.data_dir / "qemu" / "desks").iterdir())
    assert leftovers == []
    desk_id = stack.desk_id
    stack.desk_id = ""  # nothing left for the fixture to clean
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert desk_id.encode() not in cmdline.read_bytes()
        except OSError:
            continue


def test_no_key_in_data_dir_logs_or_seed(stack: Stack) -> None:
    keys = [k.encode() for k in stack.keys]
    assert len(keys) == 2
    scanned = [stack.tmp / "control-plane.log"]
    scanned += [
        p for p in stack.data_dir.rglob("*")
        if p.is_file() and "images" not in p.relative_to(stack.data_dir).parts
    ]  # fmt: skip
    hits = [str(p) for p in scanned for k in keys if k in p.read_bytes()]
    hits += ["seed.iso" for k in keys if k in stack.seed_bytes]
    assert hits == []
    assert len(scanned) > 3
