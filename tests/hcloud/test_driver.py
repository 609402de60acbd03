"""The hcloud driver over a fake Pulumi engine and a fake Hetzner API on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from orchestrator.drivers.base import (
    Driver,
    MachineState,
    PermanentDriverError,
    TransientDriverError,
)
from tests.hcloud.conftest import World, spec

STACK = "desk-dsk_a1"


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` without blocking the event loop (the async twin of wait_until)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition did not hold in time")
        await asyncio.sleep(0.01)


def test_driver_satisfies_the_protocol(world: World) -> None:
    assert isinstance(world.driver, Driver)
    assert world.driver.name == "hcloud"


def test_create_builds_firewall_volume_and_server_with_bureau_labels(world: World) -> None:
    handle = asyncio.run(world.driver.create(spec(), world.report))
    found = world.hetzner.labelled("managed-by=bureau,desk-id=dsk_a1,owner=usr_1")
    assert [len(found[kind]) for kind in ("servers", "volumes", "firewalls")] == [1, 1, 1]
    server = found["servers"][0]
    assert handle.agent_url == f"https://{server['public_net']['ipv4']['ip']}:7443"
    assert handle.details["server_id"] == str(server["id"])
    assert found["volumes"][0]["server"] == server["id"]


def test_create_uses_the_size_server_type_and_the_region(world: World) -> None:
    from orchestrator.drivers.base import DESK_SIZES

    asyncio.run(world.driver.create(spec(size=DESK_SIZES["medium"], region="hel1"), world.report))
    server = world.hetzner.labelled("desk-id=dsk_a1")["servers"][0]
    volume = world.hetzner.labelled("desk-id=dsk_a1")["volumes"][0]
    assert (server["server_type"]["name"], server["location"]["name"]) == ("cx33", "hel1")
    assert (volume["size"], volume["location"]["name"]) == (20, "hel1")


def test_firewall_admits_the_agent_port_from_the_control_plane_only(world: World) -> None:
    asyncio.run(world.driver.create(spec(), world.report))
    firewall = world.hetzner.labelled("desk-id=dsk_a1")["firewalls"][0]
    assert [(r["port"], r["source_ips"]) for r in firewall["rules"]] == [
        ("7443", ["203.0.113.5/32"])
    ]


def test_ssh_cidrs_of_the_spec_open_port_22(world: World) -> None:
    asyncio.run(world.driver.create(spec(ssh_cidrs=("198.51.100.0/24",)), world.report))
    firewall = world.hetzner.labelled("desk-id=dsk_a1")["firewalls"][0]
    assert ("22", ["198.51.100.0/24"]) in [(r["port"], r["source_ips"]) for r in firewall["rules"]]


def test_create_is_idempotent(world: World) -> None:
    first = asyncio.run(world.driver.create(spec(), world.report))
    second = asyncio.run(world.driver.create(spec(), world.report))
    assert first == second
    assert len(world.hetzner.labelled("desk-id=dsk_a1")["servers"]) == 1


def test_stop_deletes_the_server_and_keeps_the_volume(world: World) -> None:
    asyncio.run(world.driver.create(spec(), world.report))
    volume_id = world.hetzner.labelled("desk-id=dsk_a1")["volumes"][0]["id"]
    asyncio.run(world.driver.stop("dsk_a1", world.report))
    found = world.hetzner.labelled("desk-id=dsk_a1")
    assert found["servers"] == []
    assert [volume["id"] for volume in found["volumes"]] == [volume_id]
    assert asyncio.run(world.driver.status("dsk_a1")) is MachineState.STOPPED


def test_start_brings_a_new_server_with_the_same_volume(world: World) -> None:
    first = asyncio.run(world.driver.create(spec(), world.report))
    volume_id = world.hetzner.labelled("desk-id=dsk_a1")["volumes"][0]["id"]
    asyncio.run(world.driver.stop("dsk_a1", world.report))
    handle = asyncio.run(world.driver.start(spec(), world.report))
    found = world.hetzner.labelled("desk-id=dsk_a1")
    assert handle.details["server_id"] != first.details["server_id"]
    assert found["volumes"][0]["id"] == volume_id
    assert found["volumes"][0]["server"] == int(handle.details["server_id"])
    assert asyncio.run(world.driver.status("dsk_a1")) is MachineState.RUNNING


def test_stop_of_an_unknown_desk_does_nothing(world: World) -> None:
    asyncio.run(world.driver.stop("dsk_nothing", world.report))
    assert ("up", "desk-dsk_nothing") not in world.engine.calls
    assert ("refresh", "desk-dsk_nothing") not in world.engine.calls


def test_stop_after_a_half_finished_create_deletes_the_server_by_label(world: World) -> None:
    labels = {"managed-by": "bureau", "desk-id": "dsk_a1", "owner": "usr_1"}
    volume = world.hetzner.add_volume("desk-dsk-a1", labels)
    server = world.hetzner.add_server("desk-dsk-a1", labels)
    world.hetzner.attach(volume["id"], server["id"])
    world.engine.interrupt(STACK)  # the stack exists, with no outputs
    asyncio.run(world.driver.stop("dsk_a1", world.report))
    found = world.hetzner.labelled("desk-id=dsk_a1")
    assert found["servers"] == []
    assert [v["id"] for v in found["volumes"]] == [volume["id"]]
    assert ("refresh", STACK) in world.engine.calls


def test_destroy_removes_every_resource_and_the_stack(world: World) -> None:
    asyncio.run(world.driver.create(spec(), world.report))
    asyncio.run(world.driver.destroy("dsk_a1", world.report))
    assert world.hetzner.labelled("desk-id=dsk_a1") == {
        "servers": [],
        "volumes": [],
        "firewalls": [],
    }
    assert STACK not in world.engine.stacks
    assert ("remove", STACK) in world.engine.calls
    assert asyncio.run(world.driver.status("dsk_a1")) is MachineState.MISSING


def test_destroy_is_idempotent(world: World) -> None:
    asyncio.run(world.driver.create(spec(), world.report))
    asyncio.run(world.driver.destroy("dsk_a1", world.report))
    asyncio.run(world.driver.destroy("dsk_a1", world.report))
    assert world.hetzner.labelled("desk-id=dsk_a1")["volumes"] == []


def test_destroy_of_a_stopped_desk_removes_its_volume(world: World) -> None:
    asyncio.run(world.driver.create(spec(), world.report))
    asyncio.run(world.driver.stop("dsk_a1", world.report))
    asyncio.run(world.driver.destroy("dsk_a1", world.report))
    assert world.hetzner.labelled("managed-by=bureau")["volumes"] == []


def test_interrupted_run_is_refreshed_then_retried(world: World) -> None:
    world.engine.interrupt(STACK)
    handle = asyncio.run(world.driver.create(spec(), world.report))
    assert [op for op, stack in world.engine.calls if stack == STACK] == ["up", "refresh", "up"]
    assert handle.agent_url.startswith("https://198.51.100.")
    assert any("recovering" in line for line in world.progress)


def test_engine_transient_error_reaches_the_caller(world: World) -> None:
    world.engine.fail_next("up", TransientDriverError("pulumi up: 429 rate_limit_exceeded"))
    with pytest.raises(TransientDriverError, match="429"):
        asyncio.run(world.driver.create(spec(), world.report))


def test_missing_control_plane_cidrs_is_a_permanent_error(world: World) -> None:
    world.driver.settings.control_plane_cidrs = ()
    with pytest.raises(PermanentDriverError, match="CONTROL_PLANE_CIDRS"):
        asyncio.run(world.driver.create(spec(), world.report))


def test_invalid_owner_label_is_a_permanent_error(world: World) -> None:
    with pytest.raises(PermanentDriverError, match="owner_id"):
        asyncio.run(world.driver.create(spec(owner_id="owner with spaces"), world.report))


def test_progress_reports_pulumi_steps(world: World) -> None:
    asyncio.run(world.driver.create(spec(), world.report))
    assert world.progress[0].startswith("pulumi up: cx23 debian-12 in nbg1")
    assert "create server: done" in world.progress


def test_operations_on_one_desk_never_overlap(world: World) -> None:
    gate = world.engine.hold()

    async def both() -> None:
        first = asyncio.create_task(world.driver.create(spec(), world.report))
        second = asyncio.create_task(world.driver.create(spec(), world.report))
        await until(lambda: world.engine.active.get(STACK) == 1)
        for _ in range(20):
            await asyncio.sleep(0)
        assert world.engine.calls.count(("up", STACK)) == 1
        gate.set()
        await asyncio.gather(first, second)

    asyncio.run(both())
    assert world.engine.max_active[STACK] == 1
    assert [op for op, stack in world.engine.calls if stack == STACK] == ["up", "up"]


def test_operations_on_different_desks_run_concurrently(world: World) -> None:
    gate = world.engine.hold()

    async def both() -> None:
        tasks = [
            asyncio.create_task(world.driver.create(spec(desk), world.report))
            for desk in ("dsk_a1", "dsk_b2")
        ]
        await until(lambda: sum(world.engine.active.values()) == 2)
        gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(both())
    assert len(world.hetzner.labelled("managed-by=bureau")["servers"]) == 2


def test_spec_labels_are_added_and_invalid_ones_dropped(world: World) -> None:
    labels = {"bureau-desk": "dsk_a1", "note": "has spaces", "managed-by": "x"}
    asyncio.run(world.driver.create(spec(labels=labels), world.report))
    server = world.hetzner.labelled("desk-id=dsk_a1")["servers"][0]
    assert server["labels"] == {
        "bureau-desk": "dsk_a1",
        "managed-by": "bureau",
        "desk-id": "dsk_a1",
        "owner": "usr_1",
    }


def test_start_powers_on_a_server_shut_down_from_inside(world: World) -> None:
    asyncio.run(world.driver.create(spec(), world.report))
    server = world.hetzner.labelled("desk-id=dsk_a1")["servers"][0]
    server["status"] = "off"
    assert asyncio.run(world.driver.status("dsk_a1")) is MachineState.STOPPED
    asyncio.run(world.driver.start(spec(), world.report))
    assert world.hetzner.servers[server["id"]]["status"] == "running"
    assert any("powering it on" in line for line in world.progress)


def test_start_of_a_running_server_does_not_power_cycle_it(world: World) -> None:
    asyncio.run(world.driver.create(spec(), world.report))
    asyncio.run(world.driver.start(spec(), world.report))
    assert not [r for r in world.hetzner.requests if r.path.endswith("/actions/poweron")]


def test_destroy_deletes_by_label_when_pulumi_cannot(world: World) -> None:
    asyncio.run(world.driver.create(spec(), world.report))
    world.engine.fail_next("destroy", PermanentDriverError("pulumi destroy failed: corrupt state"))
    asyncio.run(world.driver.destroy("dsk_a1", world.report))
    assert world.hetzner.labelled("desk-id=dsk_a1") == {
        "servers": [],
        "volumes": [],
        "firewalls": [],
    }
    assert STACK not in world.engine.stacks
    assert any("deleting by label instead" in line for line in world.progress)


def test_destroy_keeps_transient_errors_for_a_retry(world: World) -> None:
    asyncio.run(world.driver.create(spec(), world.report))
    world.engine.fail_next("destroy", TransientDriverError("pulumi destroy: 429"))
    with pytest.raises(TransientDriverError):
        asyncio.run(world.driver.destroy("dsk_a1", world.report))
    assert len(world.hetzner.labelled("desk-id=dsk_a1")["volumes"]) == 1
