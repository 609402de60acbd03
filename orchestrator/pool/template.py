"""Pool templates: boot the guest image once with the unassigned agent, then snapshot it.

``<data_dir>/qemu/pool/templates/<key>/`` holds the image's files (hard links), the template's
root overlay, a blank data disk of the size class's size (clones get the desk's own disk in that
slot), the seed, the RAM file (``memory-backend-file``) and the device state stream. No token
and no secret: the seed's last block is zeros (a clone's copy gets its own token, clone.py). The
key covers everything a clone must share with its template (image, size, accelerator, kernel command
line, forwards), so a change of any of them makes a new template. ``template.json`` is written
last: a directory without it is an unfinished build and is removed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import httpx
from pydantic import BaseModel

from orchestrator.drivers import qemu_desk as files
from orchestrator.drivers import qemu_disks, qemu_net, qemu_proc
from orchestrator.drivers.base import (
    DeskSize,
    ProgressFn,
)
from orchestrator.drivers.qemu_accel import Accel
from orchestrator.drivers.qemu_settings import HostForward
from orchestrator.drivers.qemu_snapshot import SnapshotError, quit_vm, save_vm
from orchestrator.pool.machine import (
    RAM_FILE,
    STATE_FILE,
    LaunchError,
    MachineShape,
    launch,
    pool_command,
)
from orchestrator.pool.seed import (
    READY_LINE,
    append_token_block,
    pool_agent_sources,
    template_user_data,
)

RECORD = "template.json"


class TemplateError(Exception):
    """The template could not be built (the message says at which step)."""


class TemplateRecord(BaseModel):
    key: str
    size: str
    image: str
    image_key: str
    memory_mib: int
    vcpus: int
    disk_gib: int
    accel: str
    accel_reason: str
    tcg_tb_size_mib: int
    kernel_cmdline: str
    forwards: list[tuple[int, str, int]]
    control_plane_port: int | None
    binary: str
    built_at: float
    build_seconds: float

    def shape(self) -> MachineShape:
        return MachineShape(
            memory_mib=self.memory_mib,
            vcpus=self.vcpus,
            accel=Accel(self.accel, self.accel_reason),
            tcg_tb_size_mib=self.tcg_tb_size_mib,
            kernel_cmdline=self.kernel_cmdline,
            forwards=tuple(HostForward(g, h, p) for g, h, p in self.forwards),
            binary=self.binary,
        )


def template_key(image_key: str, size: DeskSize, shape: MachineShape) -> str:
    """What a clone must share with its template, hashed (the relay's interpreter included)."""
    material = json.dumps(
        {
            "image": image_key,
            "size": [size.name, size.memory_mib, size.vcpus, size.disk_gib],
            "accel": shape.accel.name,
            "tb": shape.tcg_tb_size_mib,
            "cmdline": shape.kernel_cmdline,
            "forwards": [asdict(f) for f in shape.forwards],
            "binary": shape.binary,
            "python": sys.executable,
            "relay": str(qemu_net.RELAY),
            "pool_agent": hashlib.sha256(
                json.dumps(pool_agent_sources(), sort_keys=True).encode()
            ).hexdigest(),
        },
        sort_keys=True,
    )
    return f"{size.name}-{hashlib.sha256(material.encode()).hexdigest()[:16]}"


class Template:
    """A finished template directory."""

    def __init__(self, path: Path, record: TemplateRecord) -> None:
        self.path = path
        self.record = record

    @classmethod
    def load(cls, path: Path) -> Template | None:
        try:
            record = TemplateRecord.model_validate_json((path / RECORD).read_text())
        except (OSError, ValueError):
            return None
        if not all((path / name).is_file() for name in (STATE_FILE, RAM_FILE, files.ROOT)):
            return None
        return cls(path, record)


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _link(source: Path, target: Path) -> None:
    try:
        target.hardlink_to(source)
    except OSError:
        shutil.copy2(source, target)


def blank_disk(path: Path, size_gib: int) -> None:
    result = subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{size_gib}G"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise TemplateError(f"blank data disk: {result.stderr.strip()[-300:]}")


async def build_template(
    root: Path,
    *,
    image_dir: Path,
    image_name: str,
    image_key: str,
    python_version: str,
    size: DeskSize,
    shape: MachineShape,
    control_plane_port: int | None,
    boot_timeout: float,
    progress: ProgressFn,
) -> Template:
    """Boot the image with the unassigned agent and snapshot it; return the template."""
    started = time.monotonic()
    key = template_key(image_key, size, shape)
    final = root / key
    existing = Template.load(final)
    if existing is not None:
        return existing
    work = root / f"{key}.partial"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(final, ignore_errors=True)
    work.mkdir(parents=True)
    for name, target in (
        ("disk.qcow2", files.BASE),
        ("vmlinuz", files.KERNEL),
        ("initrd.img", files.INITRD),
    ):
        _link(image_dir / name, work / target)
    await asyncio.to_thread(qemu_disks.create_overlay, work / files.ROOT, files.BASE)
    await asyncio.to_thread(blank_disk, work / files.DATA, size.disk_gib)
    await asyncio.to_thread(
        qemu_disks.write_seed,
        work / files.SEED,
        template_user_data(python="python" + ".".join(python_version.split(".")[:2])),
        gzipped=False,
        instance_id=f"bureau-pool-{key}",
        hostname="bureau-pool",
    )
    await asyncio.to_thread(append_token_block, work / files.SEED)
    port = _free_port()
    pidfile = work / files.PIDFILE
    cmd = pool_command(
        shape,
        name=f"bureau-pool-template-{key}",
        ram_file=work / RAM_FILE,
        share_ram=True,
        agent_port=port,
        pidfile=pidfile,
        incoming=False,
    )
    progress(f"booting pool template {key} ({shape.accel.name.upper()})")
    try:
        pid: int | None = await asyncio.to_thread(launch, cmd, work, work / files.QEMU_ERR)
    except LaunchError as exc:
        raise TemplateError(f"template QEMU: {exc}") from exc
    try:
        await _wait_unassigned(work, port, boot_timeout)
        progress("unassigned agent up: saving the template")
        try:
            await save_vm(work / files.QMP, work / STATE_FILE, ignore_shared=True, within_s=120)
        except SnapshotError as exc:
            detail = (work / files.QEMU_ERR).read_text(errors="replace").strip()[-800:]
            raise TemplateError(f"{exc}; QEMU said: {detail}") from exc
        await quit_vm(work / files.QMP)
        if pid is not None:
            await asyncio.to_thread(qemu_proc.wait_gone, pid, 30)
    finally:
        if pid is not None and qemu_proc.alive(pid):
            await asyncio.to_thread(qemu_proc.terminate, pid, 2.0)
    for name in (files.QMP, files.PIDFILE):
        (work / name).unlink(missing_ok=True)
    record = TemplateRecord(
        key=key,
        size=size.name,
        image=image_name,
        image_key=image_key,
        memory_mib=shape.memory_mib,
        vcpus=shape.vcpus,
        disk_gib=size.disk_gib,
        accel=shape.accel.name,
        accel_reason=shape.accel.reason,
        tcg_tb_size_mib=shape.tcg_tb_size_mib,
        kernel_cmdline=shape.kernel_cmdline,
        forwards=[(f.guest_port, f.host, f.port) for f in shape.forwards],
        control_plane_port=control_plane_port,
        binary=shape.binary,
        built_at=time.time(),
        build_seconds=round(time.monotonic() - started, 1),
    )
    (work / RECORD).write_text(record.model_dump_json(indent=2) + "\n")
    work.rename(final)
    progress(f"pool template {key} ready after {record.build_seconds:.0f}s")
    template = Template.load(final)
    if template is None:
        raise TemplateError(f"template {key} is incomplete after the build")
    return template


async def _wait_unassigned(work: Path, port: int, within_s: float) -> None:
    """Until the unassigned agent answers and cloud-init has finished (or the deadline)."""
    deadline = time.monotonic() + within_s
    url = f"http://127.0.0.1:{port}/pool/v1/health"
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            console = DeskConsole(work).text()
            if READY_LINE in console:
                try:
                    response = await client.get(url)
                    if response.status_code == 200 and response.json()["status"] == "unassigned":
                        return
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
            if time.monotonic() >= deadline:
                tail = console[-1500:]
                raise TemplateError(f"the template did not come up within {within_s:.0f}s:\n{tail}")
            if qemu_proc.read_pid(work / files.PIDFILE, str(work)) is None:
                raise TemplateError(f"the template's QEMU exited during boot:\n{console[-1500:]}")
            await asyncio.sleep(1.0)


class DeskConsole:
    def __init__(self, path: Path) -> None:
        self.path = path

    def text(self) -> str:
        try:
            return (self.path / files.CONSOLE).read_text(errors="replace")
        except OSError:
            return ""
