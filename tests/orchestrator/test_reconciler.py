"""The reconciler against ``driver.list_managed()``: orphans go, vanished machines fail their
desk, and a desk that never enrolls fails with the console's tail."""

from __future__ import annotations

import asyncio

from orchestrator.drivers.base import MachineState
from orchestrator.jobs.maintenance import reconcile_once
from tests.orchestrator.conftest import ControlPlane, desk_body
from tests.orchestrator.helpers import wait_state


def test_orphan_machine_is_destroyed(control_plane: ControlPlane):
    cp = control_plane
    cp.driver.machines["dorphan00000000000"] = MachineState.RUNNING
    counts = asyncio.run(reconcile_once(cp.runtime))
    assert counts["orphans"] == 1
    assert "dorphan00000000000" not in cp.driver.machines


def test_desk_whose_machine_vanished_fails(control_plane: ControlPlane):
    cp = control_plane
    with cp.client(cp.new_user("van")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        wait_state(client, desk_id, "booting")
        del cp.driver.machines[desk_id]
        asyncio.run(reconcile_once(cp.runtime))
        desk = wait_state(client, desk_id, "failed")
    assert "vanished" in desk["reason"]


def test_desk_that_never_enrolls_fails_with_the_console_tail(control_plane: ControlPlane):
    cp = control_plane
    with cp.client(cp.new_user("late")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        wait_state(client, desk_id, "booting")
        cp.runtime.settings.enroll_timeout_seconds = 0
        asyncio.run(reconcile_once(cp.runtime))
        desk = wait_state(client, desk_id, "failed")
        events = client.get(f"/v1/desks/{desk_id}/events", params={"follow": "false"}).text
    assert "did not enroll" in desk["reason"]
    assert "scripted console" in events
