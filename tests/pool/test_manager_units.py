"""Pool manager bookkeeping without VMs: off by default, crash leftovers, the template seed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import yaml

from cloud_init.settings import AgentBootConfig, AgentDist, DeskBootSettings
from orchestrator.drivers import qemu_desk as files
from orchestrator.drivers import qemu_proc
from orchestrator.drivers.base import DESK_SIZES, DeskSpec
from orchestrator.drivers.qemu_settings import QemuSettings
from orchestrator.pool import start_pool, try_assign_from_pool
from orchestrator.pool.manager import PoolManager
from orchestrator.pool.seed import template_document
from orchestrator.pool.settings import PoolSettings
from tests.helpers.wait import wait_until

CA = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"


def _boot(desk_id: str = "dsk_1") -> DeskBootSettings:
    return DeskBootSettings(
        desk_id=desk_id,
        hostname="dsk-1",
        control_plane_url="https://10.0.2.100:8443",
        control_plane_ca_pem=CA,
        bootstrap_token="bt_" + "0" * 40,
        agent=AgentBootConfig(provider="openai", model="gpt-4o-mini"),
        agent_dist=AgentDist(version="0.1.0", filename="a.whl", sha256="0" * 64),
    )


class _QemuLike:
    name = "qemu"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.settings = QemuSettings()


def test_pool_is_off_by_default(tmp_path: Path, monkeypatch: object) -> None:
    assert PoolSettings().size == 0
    assert asyncio.run(start_pool(_QemuLike(tmp_path), object())) is None
    spec = DeskSpec("dsk_1", "usr_1", "one", DESK_SIZES["small"], user_data="")
    assert asyncio.run(try_assign_from_pool(_QemuLike(tmp_path), spec, _boot(), print)) is None


def test_no_slot_means_a_cold_boot_and_a_refill_request(tmp_path: Path) -> None:
    manager = PoolManager(tmp_path, settings=PoolSettings(size=1), qemu=QemuSettings())
    spec = DeskSpec("dsk_1", "usr_1", "one", DESK_SIZES["small"], user_data="")
    events: list[str] = []
    assert asyncio.run(manager.assign(spec, _boot(), events.append)) is None
    assert events == ["pool: no prepared clone, booting cold"]
    assert manager.stats.misses == 1


def test_desks_asking_for_ssh_boot_cold(tmp_path: Path) -> None:
    manager = PoolManager(tmp_path, settings=PoolSettings(size=1), qemu=QemuSettings())
    spec = DeskSpec("dsk_1", "usr_1", "one", DESK_SIZES["small"], user_data="")
    boot = _boot().model_copy(update={"ssh_authorized_keys": ("ssh-ed25519 AAAA x",)})
    events: list[str] = []
    assert asyncio.run(manager.assign(spec, boot, events.append)) is None
    assert "SSH" in events[0]


def test_cleanup_kills_a_template_qemu_left_by_a_crash_and_removes_partials(
    tmp_path: Path,
) -> None:
    manager = PoolManager(tmp_path, settings=PoolSettings(size=1), qemu=QemuSettings())
    partial = manager.templates_dir / "small-0123.partial"
    partial.mkdir(parents=True)
    slot = manager.slots_dir / "slot-abc.partial"
    slot.mkdir(parents=True)
    done = manager.slots_dir / "slot-def"
    done.mkdir()
    # Stands in for the template's QEMU: its command line names the partial directory.
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", str(partial)],
        start_new_session=True,
    )
    (partial / files.PIDFILE).write_text(str(proc.pid))
    wait_until(lambda: qemu_proc.read_pid(partial / files.PIDFILE, str(partial)), timeout=30)
    try:
        manager.cleanup()
        assert proc.wait(timeout=10) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not partial.exists()
    assert not slot.exists()
    assert done.exists()
    assert not qemu_proc.alive(proc.pid)


def test_template_seed_carries_no_desk_data() -> None:
    doc = template_document()
    paths = {entry["path"] for entry in doc["write_files"]}
    assert "/etc/bureau/agent.env" not in paths
    assert "/etc/bureau/bootstrap-token" not in paths
    assert "/etc/bureau/control-plane-ca.pem" not in paths
    text = yaml.safe_dump(doc)
    assert "bt_" not in text
    assert "BUREAU_DESK_ID" not in text
    assert "/etc/bureau/pool-token" not in paths  # the pool token rides in a clone's seed
    assert any(p.endswith("bureau_agent/pool/resume.py") for p in paths)


def test_a_pooled_desks_record_keeps_the_image_cmdline_so_a_cold_start_adds_kernel_args_once(
    tmp_path: Path,
) -> None:
    """The template's command line is the image's + BUREAU_QEMU_KERNEL_ARGS; the qemu driver
    appends those args again when it cold-starts the desk, so the record keeps the image's."""
    from orchestrator.drivers import qemu_net
    from orchestrator.drivers.qemu_accel import Accel
    from orchestrator.pool.clone import desk_kernel_cmdline

    settings = QemuSettings(accel="tcg")
    manager = PoolManager(tmp_path, settings=PoolSettings(size=1), qemu=settings)
    image_cmdline = "root=/dev/vda rw"
    shape = manager._shape(DESK_SIZES["small"], image_cmdline, Accel("tcg", "test"))
    assert settings.kernel_args.strip() and shape.kernel_cmdline.endswith(settings.kernel_args)
    kept = desk_kernel_cmdline(shape.kernel_cmdline, settings.kernel_args)
    assert kept == image_cmdline
    cold = qemu_net.kernel_cmdline(kept, settings.kernel_args, egress=False)
    assert cold == shape.kernel_cmdline  # the cold start boots the clone's kernel as restored
    for arg in settings.kernel_args.split():
        assert cold.split().count(arg) == 1, arg
    assert desk_kernel_cmdline("root=/dev/vda rw", "") == "root=/dev/vda rw"
    assert desk_kernel_cmdline("root=/dev/vda rw quiet", "loglevel=3") == "root=/dev/vda rw quiet"
