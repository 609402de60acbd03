"""The Hetzner warm pool end to end: a real control plane (HTTPS, SQLite, workers) with the hcloud
driver on the fake Hetzner API and the fake Pulumi engine, and pool servers played by the agent's
real pool code (pool identity enrollment, mutual-TLS resume server, resume sequence).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from infra.desk import desk_program
from orchestrator.cli import app as cli_app
from orchestrator.drivers.base import DESK_SIZES, DeskSpec
from orchestrator.drivers.hcloud import HcloudDriver, HcloudSettings
from orchestrator.drivers.hcloud_inventory import Inventory, make_client
from orchestrator.pool import hcloud_pool
from orchestrator.pool.hcloud import HcloudPool, SlotState
from orchestrator.redaction import KEY_PATTERN
from tests.fakes.hetzner import FakeHetzner
from tests.fakes.hetzner_engine import FakeStackEngine, non_secret_strings
from tests.helpers.servers import serve_asgi
from tests.helpers.wait import wait_until
from tests.orchestrator.conftest import (  # the control-plane fixtures
    ControlPlane,
    agent_wheel,
    database_url,
    desk_body,
    pg_template,
    running_control_plane,
)
from tests.pool.hcloud_world import Datacenter, plain_user_data, write_files
from tests.pool.test_manager_units import _boot

TOKEN = "hcloud-pool-test-token-0123456789"
CONTROL_PLANE = ("203.0.113.5/32",)
SECRET_SIG = "4dabf18193072939515e22adb298388d"
__all__ = ["agent_wheel", "database_url", "pg_template"]  # fixtures used here


@dataclass
class World:
    cp: ControlPlane
    hetzner: FakeHetzner
    engine: FakeStackEngine
    driver: HcloudDriver
    datacenter: Datacenter
    user_token: str

    @property
    def pool(self) -> HcloudPool:
        pool = hcloud_pool()
        assert isinstance(pool, HcloudPool)
        return pool

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the control plane's event loop (where the pool lives)."""
        loop = self.pool._loop
        assert loop is not None
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    def client(self) -> httpx.Client:
        return self.cp.client(self.user_token)

    def ready_slots(self) -> list[str]:
        return [s.slot_id for s in self.pool.slots.values() if s.state == SlotState.READY]

    def create_desk(self, name: str) -> dict[str, Any]:
        with self.client() as client:
            response = client.post("/v1/desks", json=desk_body(name))
            assert response.status_code in (200, 201, 202), response.text
            desk: dict[str, Any] = response.json()
        return desk

    def wait_state(self, desk_id: str, state: str = "ready") -> dict[str, Any]:
        def current() -> dict[str, Any] | None:
            with self.client() as client:
                desk: dict[str, Any] = client.get(f"/v1/desks/{desk_id}").json()
            if desk["state"] == "failed":
                raise AssertionError(f"desk failed: {desk.get('reason')}; {self.datacenter.errors}")
            return desk if desk["state"] == state else None

        found = wait_until(current, timeout=60, interval=0.1, message=f"desk {state}")
        assert found is not None
        return found

    def messages(self, desk_id: str) -> list[str]:
        with self.client() as client:
            response = client.get(f"/v1/desks/{desk_id}/events", params={"follow": "false"})
        return [
            json.loads(line[5:])["message"]
            for line in response.text.splitlines()
            if line.startswith("data:")
        ]


@pytest.fixture
def world(
    tmp_path: Path, database_url: str, agent_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    monkeypatch.setenv("BUREAU_HCLOUD_POOL_SIZE", "1")
    monkeypatch.setenv("BUREAU_HCLOUD_POOL_REFILL_INTERVAL_SECONDS", "0.1")
    monkeypatch.setenv("BUREAU_HCLOUD_POOL_RECONCILE_INTERVAL_SECONDS", "3600")
    hetzner = FakeHetzner(token=TOKEN)
    with serve_asgi(hetzner.app) as api:
        settings = HcloudSettings(
            token=TOKEN,
            pulumi_passphrase="pool-test-passphrase",
            control_plane_cidrs=CONTROL_PLANE,
            api_endpoint=api.url,
            plugin_version="1.43.3",
        )
        engine = FakeStackEngine(hetzner)
        driver = HcloudDriver(settings, engine, Inventory(make_client(TOKEN, api.url)))
        datacenter = Datacenter(hetzner, tmp_path / "dc", cp_ca=Path())
        datacenter.workdir.mkdir()
        driver.agent_url_for = datacenter.agent_url_for
        with running_control_plane(
            tmp_path,
            database_url,
            agent_wheel,
            driver=driver,  # type: ignore[arg-type]  # any Driver works; the hint says scripted
            health_timeout_seconds=30.0,
        ) as cp:
            datacenter.cp_ca = cp.ca
            with datacenter.running():
                world = World(cp, hetzner, engine, driver, datacenter, cp.new_user("pooluser"))
                yield world
    assert hcloud_pool() is None, "the app's shutdown stops the pool"


def _pool_servers(hetzner: FakeHetzner) -> list[dict[str, Any]]:
    return hetzner.labelled("managed-by=bureau,pool-slot")["servers"]


def test_a_desk_is_assigned_from_the_pool_resumed_over_tls_and_ready(world: World) -> None:
    slot_id = wait_until(world.ready_slots, timeout=30, message="a ready pool server")[0]
    pool_server = _pool_servers(world.hetzner)[0]
    machine = world.datacenter.machines[pool_server["public_net"]["ipv4"]["ip"]]

    desk = world.create_desk("pooled")
    ready = world.wait_state(desk["id"])

    assert machine.resumed.is_set() and machine.desk_id == desk["id"]
    # The resume ran its steps on the pool server and mounted the desk's volume.
    assert machine.system is not None and machine.system.log[:2] == ["clock", "entropy"]
    volume = world.hetzner.labelled(f"desk-id={desk['id']}")["volumes"][0]
    assert machine.system.mounts[0][0] == f"/dev/disk/by-id/scsi-0HC_Volume_{volume['id']}"
    # Enrolled as the desk (its own certificate, the bootstrap token from the resume).
    assert machine.agent is not None and machine.agent.enrolled is not None
    assert machine.agent.enrolled.desk_id == desk["id"]
    resumed = f"pool server {slot_id} resumed and enrolled"
    assert any(resumed in message for message in world.messages(desk["id"]))
    assert ready["agent_url"] == world.datacenter.agent_url_for(machine.ipv4, 7443)


def test_the_desk_takes_over_the_pool_server_without_replacing_it(world: World) -> None:
    slot_id = wait_until(world.ready_slots, timeout=30)[0]
    before = _pool_servers(world.hetzner)[0]
    desk = world.create_desk("takeover")
    world.wait_state(desk["id"])

    server = world.hetzner.servers[before["id"]]  # the same Hetzner server, kept
    assert server["name"] == "desk-" + desk["id"].lower()
    assert server["labels"]["desk-id"] == desk["id"]
    assert server["labels"]["pooled-from"] == slot_id
    assert "pool-slot" not in server["labels"]
    assert world.engine.replaced == []
    assert f"desk-{desk['id']}" in world.engine.stacks
    assert f"pool-{slot_id}" not in world.engine.stacks
    # The driver sees it as the desk's machine (stop/start/destroy work by the desk's stack).
    managed = asyncio.run(world.driver.list_managed())
    assert [m.desk_id for m in managed] == [desk["id"]]


def test_the_pool_refills_after_an_assignment_and_never_exceeds_its_size(world: World) -> None:
    first = wait_until(world.ready_slots, timeout=30)[0]
    desk = world.create_desk("refill")
    world.wait_state(desk["id"])
    second = wait_until(
        lambda: [s for s in world.ready_slots() if s != first], timeout=30, message="refill"
    )
    assert len(second) == 1
    world.run(world.pool.refill())
    assert len(_pool_servers(world.hetzner)) == 1
    assert len([s for s in world.engine.stacks if s.startswith("pool-")]) == 1


def test_an_empty_pool_sends_the_desk_down_the_cold_path(world: World) -> None:
    world.datacenter.boot_pool_servers = False  # pool servers never finish booting
    wait_until(lambda: _pool_servers(world.hetzner), timeout=30)
    assert world.ready_slots() == []
    desk = world.create_desk("cold")
    ready = world.wait_state(desk["id"])
    assert "pool_slot" not in (ready.get("details") or {})
    assert "pool: no ready Hetzner pool server, booting cold" in world.messages(desk["id"])
    server = world.hetzner.labelled(f"desk-id={desk['id']}")["servers"][0]
    assert "pooled-from" not in server["labels"]
    assert world.pool.stats.misses == 1


def test_an_orphan_pool_server_is_destroyed_by_the_reconciler(world: World) -> None:
    wait_until(world.ready_slots, timeout=30)
    labels = {"managed-by": "bureau", "pool-slot": "porphan0001", "pool-class": "small"}
    firewall = world.hetzner.add_firewall("pool-porphan0001", labels)
    world.hetzner.add_volume("pool-porphan0001", labels)
    world.hetzner.add_server("pool-porphan0001", labels, firewall_ids=(firewall["id"],))
    done = world.run(world.pool.reconcile())
    assert done["orphans"] == ["porphan0001"]
    left = world.hetzner.labelled("pool-slot=porphan0001")
    assert left == {"servers": [], "volumes": [], "firewalls": []}
    assert len(_pool_servers(world.hetzner)) == 1  # the real slot stays


def test_a_restarted_pool_adopts_its_ready_servers_instead_of_creating_more(world: World) -> None:
    slot_id = wait_until(world.ready_slots, timeout=30)[0]
    pool = world.pool
    world.run(pool.stop())
    with pool._lock:
        pool.slots.clear()  # what a new process knows: nothing
    done = world.run(pool.reconcile())
    assert done == {"adopted": [slot_id], "orphans": [], "finished": [], "excess": []}
    assert world.ready_slots() == [slot_id]
    world.run(pool.refill())
    assert len(_pool_servers(world.hetzner)) == 1


def test_nothing_secret_in_the_pool_servers_user_data_or_stack_state(world: World) -> None:
    slot_id = wait_until(world.ready_slots, timeout=30)[0]
    user_data = plain_user_data(_pool_servers(world.hetzner)[0]["_user_data"])
    desk = world.create_desk("secrets")
    world.wait_state(desk["id"])
    with world.cp.admin() as admin:
        tokens = [world.user_token, world.cp.admin_token]
        assert admin.get("/v1/me").status_code == 200

    # The pool server's user-data: no desk, no user, no bootstrap token, no key, no API token.
    assert user_data.startswith("#cloud-config\n")
    for forbidden in ("bt_", "BUREAU_DESK_ID", desk["id"], "ASSISTANT_", *tokens, TOKEN):
        assert forbidden not in user_data
    assert not KEY_PATTERN.search(user_data)
    written = write_files(user_data)
    assert "/etc/bureau/bootstrap-token" not in written
    assert "/etc/bureau/agent.env" not in written
    assert written["/etc/bureau/pool-token"].startswith("pt_")
    # Its pool token is spent: a second pool enrollment with it is refused.
    pool_token = next(
        line.strip() for line in user_data.splitlines() if line.strip().startswith("pt_")
    )
    with world.cp.client() as client:
        again = client.post(
            "/v1/pool/enroll",
            json={
                "slot_id": slot_id,
                "pool_token": pool_token,
                "csr_pem": "x",
                "agent_version": "t",
            },
        )
    assert again.status_code == 401

    # Pulumi inputs of the pool stack (then the desk's, same stack): the user-data only as a
    # secret, and neither the pool token nor any desk secret in clear. The takeover ships no
    # user-data at all (the bootstrap token travels in the resume only).
    inputs = [r for r in world.engine.registrations if slot_id in json.dumps(r.inputs)]
    assert inputs
    for registration in inputs:
        for text in non_secret_strings(registration.inputs):
            assert pool_token not in text and "#cloud-config" not in text
            assert "bt_" not in text and not KEY_PATTERN.search(text)
    servers = [r for r in inputs if r.typ.endswith("Server")]
    assert len(servers) == 2  # created as a pool server, relabelled as the desk
    assert all(SECRET_SIG in s.inputs["userData"] for s in servers)
    assert "bt_" not in json.dumps(servers[1].inputs)
    outputs = json.dumps(world.engine.stacks[f"desk-{desk['id']}"].outputs)
    assert pool_token not in outputs and "bt_" not in outputs


def test_the_pool_firewall_opens_the_agent_port_to_the_control_plane_only(world: World) -> None:
    wait_until(world.ready_slots, timeout=30)
    firewall = world.hetzner.labelled("managed-by=bureau,pool-slot")["firewalls"][0]
    assert firewall["rules"] == [
        {
            "direction": "in",
            "protocol": "tcp",
            "port": "7443",
            "source_ips": list(CONTROL_PLANE),
            "destination_ips": [],
            "description": "bureau agent from the control plane",
        }
    ]


def test_bureau_pool_status_shows_the_hetzner_pool_and_its_cost(world: World) -> None:
    wait_until(world.ready_slots, timeout=30)
    env = {"BUREAU_URL": world.cp.url, "BUREAU_CA": str(world.cp.ca), "COLUMNS": "200"}
    result = CliRunner().invoke(
        cli_app, ["pool", "status"], env={**env, "BUREAU_TOKEN": world.cp.admin_token}
    )
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "hcloud" in line)
    cells = row.split()
    assert cells[:7] == ["hcloud", "small", "1", "1", "0", "0", "0"]
    assert world.pool.api_prices, world.pool.stats.last_error
    assert "cx23 €0.0050/h" in row  # the fake API's price, not the table's
    assert "€0.0050 per hour" in result.output and "prices from: hetzner api" in result.output
    as_json = CliRunner().invoke(
        cli_app, ["pool", "status", "--json"], env={**env, "BUREAU_TOKEN": world.cp.admin_token}
    )
    pools = json.loads(as_json.output)["pools"]
    assert pools[0]["cost_eur_per_hour"] == pytest.approx(0.0050)
    refused = CliRunner().invoke(
        cli_app, ["pool", "status"], env={**env, "BUREAU_TOKEN": world.user_token}
    )
    assert refused.exit_code == 1 and "403" in refused.output


def test_a_pooled_desk_stops_starts_and_deletes_like_any_desk(world: World) -> None:
    wait_until(world.ready_slots, timeout=30)
    desk = world.create_desk("lifecycle")
    world.wait_state(desk["id"])
    volume = world.hetzner.labelled(f"desk-id={desk['id']}")["volumes"][0]
    with world.client() as client:
        assert client.post(f"/v1/desks/{desk['id']}/stop").status_code in (200, 202)
        world.wait_state(desk["id"], "stopped")
        left = world.hetzner.labelled(f"desk-id={desk['id']}")
        assert left["servers"] == [] and [v["id"] for v in left["volumes"]] == [volume["id"]]
        assert client.post(f"/v1/desks/{desk['id']}/start").status_code in (200, 202)
        world.wait_state(desk["id"])  # a new server, booted cold, on the same volume
        assert world.hetzner.volumes[volume["id"]]["server"] is not None
        assert client.delete(f"/v1/desks/{desk['id']}").status_code in (200, 202, 204)
    world.wait_state(desk["id"], "deleted")
    assert world.hetzner.labelled(f"desk-id={desk['id']}") == {
        "servers": [],
        "volumes": [],
        "firewalls": [],
    }
    assert f"desk-{desk['id']}" not in world.engine.stacks


def test_bureau_pool_status_without_a_pool_says_how_to_turn_it_on(
    tmp_path: Path, database_url: str, agent_wheel: Path
) -> None:
    with running_control_plane(tmp_path, database_url, agent_wheel) as cp:
        env = {"BUREAU_URL": cp.url, "BUREAU_CA": str(cp.ca), "BUREAU_TOKEN": cp.admin_token}
        result = CliRunner().invoke(cli_app, ["pool", "status"], env={**env, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Warm pool (off)" in result.output
    assert "BUREAU_HCLOUD_POOL_SIZE" in result.output


def test_a_takeover_interrupted_before_the_rename_is_finished_by_the_reconciler(
    world: World,
) -> None:
    slot_id = wait_until(world.ready_slots, timeout=30)[0]
    pool = world.pool
    world.run(pool.stop())
    slot = pool.slots[slot_id]
    desk_spec = DeskSpec("d0000000000000abc", "u1", "crashed", DESK_SIZES["small"], user_data="")
    config = pool._desk_config(slot, desk_spec)
    # The relabelling ``up`` ran, then the control plane died before renaming the stack.
    world.engine.up(f"pool-{slot_id}", desk_program(config), lambda line: None)
    with pool._lock:
        pool.slots.clear()
    done = world.run(pool.reconcile())
    assert done["finished"] == [slot_id] and done["orphans"] == []
    assert "desk-d0000000000000abc" in world.engine.stacks
    assert f"pool-{slot_id}" not in world.engine.stacks
    asyncio.run(world.driver.destroy("d0000000000000abc", lambda line: None))
    assert world.hetzner.labelled(f"pooled-from={slot_id}") == {
        "servers": [],
        "volumes": [],
        "firewalls": [],
    }


def test_a_provisioning_rerun_resumes_a_taken_over_server_that_was_never_resumed(
    world: World,
) -> None:
    slot_id = wait_until(world.ready_slots, timeout=30)[0]
    pool = world.pool
    world.run(pool.stop())
    slot = pool.slots[slot_id]
    machine = next(m for m in world.datacenter.machines.values() if m.slot_id == slot_id)
    boot = _boot("d0000000000000abd")
    desk_spec = DeskSpec("d0000000000000abd", "u1", "rerun", DESK_SIZES["small"], user_data="")
    world.run(pool._take_over(slot, desk_spec, lambda line: None))  # then the process died
    progress: list[str] = []
    handle = world.run(pool.assign(desk_spec, boot, progress.append))
    # The server got the resume (this desk, fresh clock and entropy); the made-up bootstrap
    # token is refused by the control plane, so the desk is not handed out.
    assert machine.system is not None and machine.system.log[:2] == ["clock", "entropy"]
    assert machine.root is not None
    assert "BUREAU_DESK_ID=d0000000000000abd" in (machine.root / "etc/bureau/agent.env").read_text()
    assert handle is None
    assert any("taken over before a restart" in line for line in progress)
