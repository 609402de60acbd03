"""One real desk VM through its life: boot, isolation, re-adoption, stop/start, destroy.

The tests share one VM (each TCG boot costs tens of seconds) and run in file order.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from orchestrator.drivers import qemu_proc
from orchestrator.drivers.base import (
    DESK_SIZES,
    DeskHandle,
    DeskSpec,
    MachineState,
    PermanentDriverError,
)
from orchestrator.drivers.qemu import QemuDriver
from orchestrator.drivers.qemu_settings import QemuSettings
from tests.helpers.servers import serve_asgi
from tests.helpers.wait import wait_until
from tests.qemu.guest import (
    AGENT_TOKEN,
    data_disk_marker,
    fetched,
    pinned_context,
    probe_results,
    resolver_facts,
    self_signed,
    standalone_user_data,
)

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.timeout(3600)]
BOOT_TIMEOUT = 900.0
TLS = self_signed()


@dataclass
class Desk:
    driver: QemuDriver
    spec: DeskSpec
    handle: DeskHandle
    data_dir: Path
    marker: str
    host_port: int
    hits: list[str]
    events: list[str] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        return self.data_dir / "qemu" / "desks" / self.spec.desk_id

    def console(self) -> str:
        return asyncio.run(self.driver.console_excerpt(self.spec.desk_id, 1 << 20))


def _agent_answers(handle: DeskHandle) -> bool:
    response = httpx.get(
        f"{handle.agent_url}/v1/assistants",
        headers={"Authorization": f"Bearer {AGENT_TOKEN}"},
        verify=pinned_context(TLS),
        timeout=5,
    )
    return response.status_code == 200 and response.json()["object"] == "list"


def _wait_agent(desk: Desk) -> None:
    try:
        wait_until(lambda: _agent_answers(desk.handle), timeout=BOOT_TIMEOUT, interval=1.0)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nconsole:\n{desk.console()[-3000:]}") from exc


@pytest.fixture(scope="module")
def desk(qemu_data_dir: Path) -> Iterator[Desk]:
    hits: list[str] = []
    app = FastAPI()

    @app.get("/hello")
    def hello() -> PlainTextResponse:
        hits.append("hello")
        return PlainTextResponse("hello-from-host")

    with serve_asgi(app) as host_server:
        driver = QemuDriver(qemu_data_dir, QemuSettings(stop_timeout_seconds=120))
        # The test server stands in for the control plane: the only forwarded host port.
        guest_url = driver.guest_control_plane_url(f"http://127.0.0.1:{host_server.port}")
        port = host_server.port
        marker = f"marker-{uuid.uuid4().hex[:12]}"
        probes = [
            "10.0.2.2:5432",
            "10.0.2.2:6379",
            f"10.0.2.2:{port}",
            f"10.0.2.100:{port}",
            "10.0.2.100:5432",
            "1.1.1.1:443",
        ]
        user_data = standalone_user_data(TLS, probes, marker, f"{guest_url}/hello")
        spec = DeskSpec(
            desk_id=f"dsk_vm{uuid.uuid4().hex[:8]}",
            owner_id="usr_test",
            name="vm-test",
            size=DESK_SIZES["small"],
            user_data=user_data,
        )
        events: list[str] = []
        handle = asyncio.run(driver.create(spec, events.append))
        booted = Desk(driver, spec, handle, qemu_data_dir, marker, port, hits, events)
        try:
            _wait_agent(booted)
            yield booted
        finally:
            asyncio.run(driver.destroy(spec.desk_id, events.append))


def test_agent_answers_on_the_forwarded_port(desk: Desk) -> None:
    assert desk.handle.agent_url.startswith("https://127.0.0.1:")
    assert _agent_answers(desk.handle)


def test_events_name_the_accelerator_chosen_by_the_probe(desk: Desk) -> None:
    accel = desk.handle.details["accelerator"]
    lines = [e for e in desk.events if e.startswith("accelerator: ")]
    assert lines and lines[0].startswith(f"accelerator: {accel.upper()}")
    if accel == "tcg" and os.path.exists("/dev/kvm"):
        assert "KVM" in lines[0]  # says why KVM was not used


def test_guest_reaches_the_forwarded_control_plane_port(desk: Desk) -> None:
    wait_until(lambda: fetched(desk.console()), timeout=120, interval=1.0)
    assert fetched(desk.console()) == "hello-from-host"
    assert desk.hits
    assert probe_results(desk.console())[f"10.0.2.100:{desk.host_port}"] == "open"


def test_guest_cannot_reach_host_loopback_services(desk: Desk) -> None:
    wait_until(lambda: len(probe_results(desk.console())) >= 6, timeout=120, interval=1.0)
    results = probe_results(desk.console())
    for target in ("10.0.2.2:5432", "10.0.2.2:6379", f"10.0.2.2:{desk.host_port}"):
        assert results[target] == "closed", target
    assert results["10.0.2.100:5432"] == "closed"


def test_restricted_network_has_no_internet_route(desk: Desk) -> None:
    wait_until(lambda: "1.1.1.1:443" in probe_results(desk.console()), timeout=120)
    assert probe_results(desk.console())["1.1.1.1:443"] == "closed"


def test_restricted_desk_runs_no_resolver(desk: Desk) -> None:
    # No DNS server to ask on the restricted network: the image skips systemd-resolved.
    wait_until(lambda: len(resolver_facts(desk.console())) == 2, timeout=180, interval=1.0)
    assert resolver_facts(desk.console()) == {"RESOLVER": "inactive", "LOOKUP": "no"}


def test_new_driver_object_readopts_the_running_desk(desk: Desk) -> None:
    fresh = QemuDriver(desk.data_dir)
    machines = {m.desk_id: m for m in asyncio.run(fresh.list_managed())}
    found = machines[desk.spec.desk_id]
    assert found.state is MachineState.RUNNING
    assert found.handle is not None and found.handle.agent_url == desk.handle.agent_url
    assert asyncio.run(fresh.status(desk.spec.desk_id)) is MachineState.RUNNING


def test_stop_then_start_keeps_the_data_disk(desk: Desk) -> None:
    wait_until(lambda: data_disk_marker(desk.console()), timeout=60)
    events: list[str] = []
    asyncio.run(desk.driver.stop(desk.spec.desk_id, events.append))
    assert asyncio.run(desk.driver.status(desk.spec.desk_id)) is MachineState.STOPPED
    assert "guest powered off" in events
    assert (desk.directory / "data.qcow2").is_file()

    desk.handle = asyncio.run(desk.driver.start(desk.spec, events.append))
    _wait_agent(desk)
    wait_until(lambda: data_disk_marker(desk.console()), timeout=120, interval=1.0)
    assert data_disk_marker(desk.console()) == desk.marker


def test_destroy_leaves_no_process_and_no_file(desk: Desk) -> None:
    pid = int(desk.handle.details["pid"])
    asyncio.run(desk.driver.destroy(desk.spec.desk_id, desk.events.append))
    assert not qemu_proc.alive(pid)  # gone (at most a zombie until init reaps it)
    assert not desk.directory.exists()
    assert asyncio.run(desk.driver.status(desk.spec.desk_id)) is MachineState.MISSING
    assert desk.spec.desk_id not in {m.desk_id for m in asyncio.run(desk.driver.list_managed())}


def test_create_refuses_more_desks_than_host_memory_allows(qemu_data_dir: Path) -> None:
    driver = QemuDriver(qemu_data_dir, QemuSettings(memory_limit_mib=512))
    spec = DeskSpec(
        desk_id=f"dsk_mem{uuid.uuid4().hex[:8]}",
        owner_id="usr_test",
        name="too-big",
        size=DESK_SIZES["small"],
        user_data="#cloud-config\n",
    )
    try:
        with pytest.raises(PermanentDriverError, match="not enough host memory"):
            asyncio.run(driver.create(spec, lambda _: None))
        assert asyncio.run(driver.status(spec.desk_id)) is MachineState.STOPPED
    finally:
        asyncio.run(driver.destroy(spec.desk_id, lambda _: None))
