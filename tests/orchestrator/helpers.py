"""Small helpers shared by the control-plane tests."""

from __future__ import annotations

import json
from typing import Any

import httpx

from orchestrator.drivers.base import DeskSpec
from tests.helpers.wait import wait_until
from tests.orchestrator.conftest import ControlPlane


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
