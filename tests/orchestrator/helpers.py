"""Small helpers shared by the control-plane tests."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from orchestrator.drivers.base import DeskSpec
from tests.helpers.servers import free_port
from tests.helpers.wait import wait_until
from tests.orchestrator.agent_double import AgentDouble, bootstrap_token
from tests.orchestrator.conftest import ControlPlane, desk_body


def wait_state(client: httpx.Client, desk_id: str, state: str, timeout: float = 20.0) -> Any:
    def reached() -> Any:
        desk = client.get(f"/v1/desks/{desk_id}").json()
        return desk if desk["state"] == state else None

    return wait_until(reached, timeout=timeout, message=f"desk {desk_id} {state}")


def create_spec(cp: ControlPlane, desk_id: str) -> DeskSpec:
    def found() -> DeskSpec | None:
        for call in list(cp.driver.calls):
            if call.op == "create" and call.desk_id == desk_id and call.spec is not None:
                return call.spec
        return None

    spec = wait_until(found, message="driver.create called")
    assert spec is not None
    return spec


def transitions(client: httpx.Client, desk_id: str) -> list[str]:
    response = client.get(f"/v1/desks/{desk_id}/events", params={"follow": "false"})
    assert response.status_code == 200, response.text
    states = []
    for block in response.text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event["kind"] == "transition":
                    states.append(event["to_state"])
    return states


@contextlib.contextmanager
def ready_desk(
    cp: ControlPlane, client: httpx.Client, workdir: Path, name: str = "ready"
) -> Iterator[tuple[str, AgentDouble]]:
    """A desk that went through enrollment, with its agent double serving mutual TLS."""
    port = free_port()
    urls = getattr(cp.driver, "_test_urls", None)
    if urls is None:
        urls = {}
        cp.driver._test_urls = urls  # type: ignore[attr-defined]
        cp.driver.agent_url = lambda desk_id: urls.get(desk_id, "https://127.0.0.1:1")
    response = client.post("/v1/desks", json=desk_body(name))
    assert response.status_code == 201, response.text
    desk_id = str(response.json()["id"])
    urls[desk_id] = f"https://127.0.0.1:{port}"
    wait_state(client, desk_id, "booting")
    agent = AgentDouble(desk_id, workdir / desk_id)
    assert agent.enroll(cp.url, cp.ca, bootstrap_token(create_spec(cp, desk_id))).status_code == 200
    with agent.serve(port):
        wait_state(client, desk_id, "ready")
        yield desk_id, agent
