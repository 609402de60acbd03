"""The qemu driver's pieces that need no VM: settings, arguments, seed ISO, QMP, bookkeeping."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.drivers.base import DESK_SIZES, DeskSpec, MachineState, PermanentDriverError
from orchestrator.drivers.factory import load_driver
from orchestrator.drivers.qemu import QemuDriver
from orchestrator.drivers.qemu_accel import choose_accel
from orchestrator.drivers.qemu_disks import write_seed
from orchestrator.drivers.qemu_net import DNS_KERNEL_ARG, kernel_cmdline, netdev_args
from orchestrator.drivers.qemu_qmp import Qmp, QmpError
from orchestrator.drivers.qemu_settings import HostForward, QemuSettings, parse_forwards
from orchestrator.image.settings import ImageSettings


def test_host_forwards_parse_with_and_without_guest_port() -> None:
    assert parse_forwards("127.0.0.1:11434, 8080=127.0.0.1:9000") == [
        HostForward(11434, "127.0.0.1", 11434),
        HostForward(8080, "127.0.0.1", 9000),
    ]


@pytest.mark.parametrize("bad", ["11434", "host:", "a=b:1", "127.0.0.1:70000"])
def test_bad_host_forward_is_refused_with_the_entry(bad: str) -> None:
    with pytest.raises(ValueError, match="bad host forward"):
        parse_forwards(bad)


def test_network_is_restricted_with_explicit_forwards_only() -> None:
    args = netdev_args(40000, [HostForward(8443, "127.0.0.1", 8443)], None)
    netdev = args[args.index("-netdev") + 1]
    assert "restrict=on" in netdev.split(",")
    assert "hostfwd=tcp:127.0.0.1:40000-:7443" in netdev
    assert "guestfwd=tcp:10.0.2.100:8443-cmd:" in netdev
    assert netdev.count("guestfwd=") == 1


def test_only_a_desk_with_the_egress_nic_asks_the_image_for_dns() -> None:
    # The image starts systemd-resolved only when the kernel command line carries the driver's
    # flag: both sides must name the same flag.
    drop_in = ImageSettings().recipe_dir / "files" / "resolved-only-with-egress.conf"
    assert f"ConditionKernelCommandLine={DNS_KERNEL_ARG}" in drop_in.read_text().splitlines()
    restricted = kernel_cmdline("root=/dev/vda rw", " console=ttyS0 quiet ", egress=False)
    assert restricted == "root=/dev/vda rw console=ttyS0 quiet"
    passt = kernel_cmdline("root=/dev/vda rw", "console=ttyS0", egress=True).split()
    assert passt == ["root=/dev/vda", "rw", "console=ttyS0", DNS_KERNEL_ARG]


def test_guest_control_plane_url_points_at_the_forward_address(tmp_path: Path) -> None:
    driver = QemuDriver(tmp_path, QemuSettings())
    assert driver.guest_control_plane_url("https://127.0.0.1:8443") == "https://10.0.2.100:8443"
    assert driver.guest_control_plane_url("https://0.0.0.0:9443/") == "https://10.0.2.100:9443"


def test_factory_loads_the_qemu_driver(tmp_path: Path) -> None:
    driver = load_driver("qemu", tmp_path)
    assert isinstance(driver, QemuDriver) and driver.name == "qemu"


@pytest.mark.skipif(shutil.which("genisoimage") is None, reason="genisoimage missing")
def test_seed_iso_is_cidata_with_user_data_and_meta_data(tmp_path: Path) -> None:
    seed = tmp_path / "seed.iso"
    write_seed(seed, "#cloud-config\nhostname: x\n", gzipped=False, instance_id="dsk_1",
               hostname="dsk-1")  # fmt: skip
    data = seed.read_bytes()
    assert data[32808:32814] == b"cidata"  # ISO 9660 volume identifier
    assert b"#cloud-config\nhostname: x\n" in data
    assert b"instance-id: dsk_1" in data
    assert seed.stat().st_mode & 0o777 == 0o600


def test_unknown_desk_is_missing_and_destroy_is_idempotent(tmp_path: Path) -> None:
    driver = QemuDriver(tmp_path, QemuSettings())
    assert asyncio.run(driver.status("dsk_none")) is MachineState.MISSING
    asyncio.run(driver.destroy("dsk_none", lambda _: None))
    assert asyncio.run(driver.list_managed()) == []


def test_create_without_an_image_says_how_to_build_one(tmp_path: Path) -> None:
    driver = QemuDriver(tmp_path, QemuSettings())
    spec = DeskSpec("dsk_x", "usr_x", "x", DESK_SIZES["small"], "#cloud-config\n")
    with pytest.raises(PermanentDriverError, match="bureau image build"):
        asyncio.run(driver.create(spec, lambda _: None))


def test_forced_tcg_skips_the_probe(tmp_path: Path) -> None:
    accel = choose_accel("tcg", "qemu-system-x86_64", tmp_path / "k", tmp_path / "i",
                         tmp_path / "accel.json", 1.0)  # fmt: skip
    assert accel.name == "tcg" and "-accel" in accel.qemu_args(128)
    assert not (tmp_path / "accel.json").exists()


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="qemu missing")
def test_qmp_client_queries_a_real_qemu(tmp_path: Path) -> None:
    sock = tmp_path / ("q" * 90) / "qmp.sock"  # longer than AF_UNIX allows: fd path fallback
    sock.parent.mkdir()
    proc = subprocess.Popen(
        ["qemu-system-x86_64", "-M", "none", "-display", "none", "-nodefaults",
         "-qmp", "unix:qmp.sock,server=on,wait=off", "-S"],
        cwd=sock.parent,
    )  # fmt: skip

    async def query() -> str:
        qmp = await Qmp.connect(sock)
        try:
            status = await qmp.execute("query-status")
            try:
                await qmp.execute("quit")
            except QmpError:
                pass  # QEMU may reset the socket as it exits; its exit code is checked below
        finally:
            await qmp.close()
        return str(status["status"])

    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert asyncio.run(query()) == "prelaunch"
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
