"""list_managed, status and the sweep of orphans, through the official hcloud client over HTTP."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.drivers.base import MachineState, PermanentDriverError, TransientDriverError
from orchestrator.drivers.hcloud_inventory import Inventory, make_client
from tests.hcloud.conftest import World, spec


def _orphan(world: World, desk_id: str, *, with_server: bool = True) -> None:
    """Resources of a desk whose stack is gone (lost state, a half-finished create)."""
    labels = {"managed-by": "bureau", "desk-id": desk_id, "owner": "usr_9"}
    firewall = world.hetzner.add_firewall(f"desk-{desk_id}", labels)
    volume = world.hetzner.add_volume(f"desk-{desk_id}", labels)
    if with_server:
        server = world.hetzner.add_server(f"desk-{desk_id}", labels, firewall_ids=(firewall["id"],))
        world.hetzner.attach(volume["id"], server["id"])


def test_list_managed_reports_running_and_stopped_desks(world: World) -> None:
    asyncio.run(world.driver.create(spec("dsk_run"), world.report))
    asyncio.run(world.driver.create(spec("dsk_stop"), world.report))
    asyncio.run(world.driver.stop("dsk_stop", world.report))
    machines = {m.desk_id: m for m in asyncio.run(world.driver.list_managed())}
    assert machines["dsk_run"].state is MachineState.RUNNING
    assert machines["dsk_run"].handle is not None
    assert machines["dsk_run"].handle.agent_url.endswith(":7443")
    assert machines["dsk_stop"].state is MachineState.STOPPED
    assert machines["dsk_stop"].handle is None


def test_list_managed_asks_hetzner_by_the_bureau_label(world: World) -> None:
    asyncio.run(world.driver.list_managed())
    queries = {r.path: r.query for r in world.hetzner.requests}
    for path in ("/servers", "/volumes", "/firewalls"):
        assert "label_selector=managed-by%3Dbureau" in queries[path]


def test_list_managed_ignores_resources_bureau_does_not_manage(world: World) -> None:
    world.hetzner.add_server("someone-elses", {"team": "web"})
    world.hetzner.add_volume("unlabelled", {})
    assert asyncio.run(world.driver.list_managed()) == []


def test_list_managed_finds_orphans_without_a_stack(world: World) -> None:
    _orphan(world, "dsk_orphan")
    machines = asyncio.run(world.driver.list_managed())
    assert [(m.desk_id, m.state) for m in machines] == [("dsk_orphan", MachineState.RUNNING)]


def test_list_managed_reads_every_page(world: World) -> None:
    for index in range(60):
        world.hetzner.add_volume(
            f"v{index}", {"managed-by": "bureau", "desk-id": f"dsk_{index:02d}"}
        )
    machines = asyncio.run(world.driver.list_managed())
    assert len(machines) == 60
    assert {m.state for m in machines} == {MachineState.STOPPED}


def test_destroy_sweeps_an_orphan_by_label(world: World) -> None:
    _orphan(world, "dsk_orphan")
    asyncio.run(world.driver.destroy("dsk_orphan", world.report))
    assert world.hetzner.labelled("desk-id=dsk_orphan") == {
        "servers": [],
        "volumes": [],
        "firewalls": [],
    }
    assert any("swept 3 leftover" in line for line in world.progress)


def test_sweep_detaches_a_volume_from_a_server_it_keeps(world: World) -> None:
    _orphan(world, "dsk_half", with_server=False)
    stranger = world.hetzner.add_server("not-bureau", {})
    volume = world.hetzner.labelled("desk-id=dsk_half")["volumes"][0]
    world.hetzner.attach(volume["id"], stranger["id"])
    asyncio.run(world.driver.destroy("dsk_half", world.report))
    assert world.hetzner.labelled("desk-id=dsk_half")["volumes"] == []
    assert stranger["id"] in world.hetzner.servers


def test_sweep_leaves_other_desks_alone(world: World) -> None:
    _orphan(world, "dsk_orphan")
    asyncio.run(world.driver.create(spec("dsk_keep"), world.report))
    asyncio.run(world.driver.destroy("dsk_orphan", world.report))
    kept = world.hetzner.labelled("desk-id=dsk_keep")
    assert [len(kept[kind]) for kind in ("servers", "volumes", "firewalls")] == [1, 1, 1]


def test_status_of_a_desk_with_nothing_is_missing(world: World) -> None:
    assert asyncio.run(world.driver.status("dsk_never")) is MachineState.MISSING


def test_status_maps_a_powered_off_server_to_stopped(world: World) -> None:
    world.hetzner.add_server("x", {"managed-by": "bureau", "desk-id": "dsk_off"}, status="off")
    assert asyncio.run(world.driver.status("dsk_off")) is MachineState.STOPPED


def test_rate_limit_is_a_transient_error_with_retry_after(world: World) -> None:
    world.hetzner.fail_next(429, "rate_limit_exceeded")
    with pytest.raises(TransientDriverError, match="rate_limit_exceeded") as caught:
        asyncio.run(world.driver.list_managed())
    assert caught.value.retry_after == 60.0
    assert len(world.hetzner.requests) == 1  # no blind retries inside the client


def test_server_error_is_transient(world: World) -> None:
    world.hetzner.fail_next(503, "unavailable", "service unavailable")
    with pytest.raises(TransientDriverError):
        asyncio.run(world.driver.status("dsk_a1"))


def test_bad_token_is_a_permanent_error_naming_the_setting(world: World) -> None:
    inventory = Inventory(make_client("wrong-token", world.api_url))
    with pytest.raises(PermanentDriverError, match="BUREAU_HCLOUD_TOKEN"):
        inventory.managed()


def test_unreachable_api_is_transient(world: World) -> None:
    inventory = Inventory(make_client("t", "http://127.0.0.1:9/v1"))
    with pytest.raises(TransientDriverError, match="hetzner list servers"):
        inventory.managed()


def test_console_excerpt_is_empty_on_hetzner(world: World) -> None:
    assert asyncio.run(world.driver.console_excerpt("dsk_a1")) == ""
