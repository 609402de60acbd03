"""Clones of a pool template: prepared slots, restore under a watchdog, resume over the forward.

A slot (``<data_dir>/qemu/pool/slots/<id>/``) is a desk directory minus the desk: hard links to
the image files and the template's overlay, a new overlay on top, a fresh data disk, and its own
copy of the template's seed whose last block carries the slot's single-use pool token (also in
``pool-token``, 0600, for the control plane). Right after the resume the token is scrubbed from
both (``scrub_pool_token``; again at start for a desk a crash left unscrubbed): the seed the desk
keeps, and cold-boots from after a stop, holds no token (seed.py says why).
Assignment renames it to ``<data_dir>/qemu/desks/<desk_id>/`` (the qemu driver's layout, so that
driver stops, starts and destroys it like any desk), starts QEMU with ``-incoming defer -S``,
loads the template's state (killed if it has not completed within the restore timeout), ``cont``,
then calls the agent's resume endpoint through the desk's own ``hostfwd``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from orchestrator.drivers import qemu_desk as files
from orchestrator.drivers import qemu_disks, qemu_proc
from orchestrator.drivers.base import PermanentDriverError, TransientDriverError
from orchestrator.drivers.qemu_desk import DeskDir, DeskRecord
from orchestrator.drivers.qemu_snapshot import SnapshotError, restore_vm, resume_vcpus
from orchestrator.pool.machine import (
    RAM_FILE,
    STATE_FILE,
    TEMPLATE_ROOT,
    LaunchError,
    launch,
    pool_command,
)
from orchestrator.pool.seed import write_token_block
from orchestrator.pool.template import Template
from orchestrator.pool.wire import ResumeRequest, ResumeResponse

SLOT_MARK = "pool-slot.json"
#: The slot's pool token (the same is in its seed's last block until the resume).
SLOT_TOKEN = "pool-token"  # noqa: S105 - a file name


class CloneError(Exception):
    """Restoring or resuming a clone failed; the clone was removed."""


@dataclass
class Restored:
    desk: DeskDir
    record: DeskRecord
    pid: int
    template: Template
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def agent_url(self) -> str:
        return f"https://127.0.0.1:{self.record.agent_port}"

    @property
    def pool_token(self) -> str:
        return self.desk.file(SLOT_TOKEN).read_text().strip()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_slot(template: Template, slots: Path) -> Path:
    """A ready-to-restore directory for ``template`` (blocking: disks are created here)."""
    slot = slots / f"slot-{secrets.token_hex(6)}"
    partial = slot.with_name(slot.name + ".partial")
    partial.mkdir(parents=True)
    try:
        for name in (files.BASE, files.KERNEL, files.INITRD):
            (partial / name).hardlink_to(template.path / name)
        (partial / TEMPLATE_ROOT).hardlink_to(template.path / files.ROOT)
        token = secrets.token_urlsafe(32)
        _write_private(partial / SLOT_TOKEN, token + "\n")
        shutil.copyfile(template.path / files.SEED, partial / files.SEED)
        (partial / files.SEED).chmod(0o600)
        write_token_block(partial / files.SEED, token)
        qemu_disks.create_overlay(partial / files.ROOT, TEMPLATE_ROOT)
        qemu_disks.create_data_disk(partial / files.DATA, template.record.disk_gib)
        (partial / SLOT_MARK).write_text(template.record.key + "\n")
    except (OSError, ValueError, TransientDriverError, PermanentDriverError):
        shutil.rmtree(partial, ignore_errors=True)
        raise
    partial.rename(slot)
    return slot


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def scrub_pool_token(directory: Path) -> bool:
    """Zero the token block of ``directory``'s seed and delete its token file (a resumed clone;
    idempotent). True when there was a token to scrub."""
    token_file = directory / SLOT_TOKEN
    if not token_file.exists():
        return False
    seed = directory / files.SEED
    if seed.exists():
        write_token_block(seed, None)
    token_file.unlink(missing_ok=True)
    return True


def _adopt_slot(slot: Path, desk: DeskDir) -> None:
    desk.path.parent.mkdir(parents=True, exist_ok=True)
    slot.rename(desk.path)
    (desk.path / SLOT_MARK).unlink(missing_ok=True)


def slot_template_key(slot: Path) -> str | None:
    try:
        return (slot / SLOT_MARK).read_text().strip()
    except OSError:
        return None


def desk_kernel_cmdline(template_cmdline: str, kernel_args: str) -> str:
    """The image's kernel command line inside a template's (``<image's> <kernel_args>``, as the
    pool manager composes it): what the desk record keeps, since the qemu driver appends
    ``kernel_args`` itself when it cold-starts the desk later (else they appear twice)."""
    full, extra = template_cmdline.strip(), kernel_args.strip()
    if extra and full.endswith(extra):
        return full[: -len(extra)].strip()
    return full


async def restore_into(
    template: Template,
    slot: Path,
    desk: DeskDir,
    *,
    name: str,
    restore_timeout: float,
    tcg_tb_size_mib: int | None = None,
    kernel_args: str = "",
) -> Restored:
    """Move ``slot`` to the desk's directory, start QEMU and load the template's state (paused).

    ``kernel_args``: the qemu driver's ``BUREAU_QEMU_KERNEL_ARGS`` (the template's command line
    ends with them; the desk record keeps the image's part, the driver appends them at start)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    _adopt_slot(slot, desk)
    tpl = template.record
    record = DeskRecord(
        desk_id=desk.desk_id,
        name=name,
        image=tpl.image,
        image_key=tpl.image_key,
        boot="kernel",
        kernel_cmdline=desk_kernel_cmdline(tpl.kernel_cmdline, kernel_args),
        memory_mib=tpl.memory_mib,
        vcpus=tpl.vcpus,
        disk_gib=tpl.disk_gib,
        agent_port=_free_port(),
        control_plane_port=tpl.control_plane_port,
        network="restricted",
        accel=tpl.accel,
    )
    desk.save(record)
    assert record.agent_port is not None
    shape = template.record.shape()
    if tcg_tb_size_mib is not None:  # not migrated state: a clone may translate into less
        shape = dataclasses.replace(shape, tcg_tb_size_mib=tcg_tb_size_mib)
    cmd = pool_command(
        shape,
        name=f"bureau-{desk.desk_id}",
        ram_file=template.path / RAM_FILE,
        share_ram=False,
        agent_port=record.agent_port,
        pidfile=desk.file(files.PIDFILE),
        incoming=True,
    )
    try:
        pid = await asyncio.to_thread(launch, cmd, desk.path, desk.file(files.QEMU_ERR))
    except LaunchError as exc:
        raise CloneError(f"clone QEMU did not start: {exc}") from exc
    timings["launch_ms"] = (time.perf_counter() - started) * 1000
    try:
        await restore_vm(
            desk.file(files.QMP),
            template.path / STATE_FILE,
            ignore_shared=True,
            within_s=restore_timeout,
        )
    except SnapshotError as exc:
        await asyncio.to_thread(qemu_proc.terminate, pid, 1.0)
        detail = desk.file(files.QEMU_ERR).read_text(errors="replace").strip()[-400:]
        raise CloneError(f"restore failed, QEMU killed: {exc} {detail}".strip()) from exc
    timings["restore_ms"] = (time.perf_counter() - started) * 1000
    return Restored(desk=desk, record=record, pid=pid, template=template, timings=timings)


async def resume_clone(
    restored: Restored, request: ResumeRequest, *, within_s: float
) -> ResumeResponse:
    """``cont`` the clone and hand it the desk (the agent enrolls before answering); the pool
    token is scrubbed from the clone's directory however the resume ended."""
    try:
        return await _resume_clone(restored, request, within_s=within_s)
    finally:
        await asyncio.to_thread(scrub_pool_token, restored.desk.path)


async def _resume_clone(
    restored: Restored, request: ResumeRequest, *, within_s: float
) -> ResumeResponse:
    started = time.perf_counter()
    try:
        await resume_vcpus(restored.desk.file(files.QMP))
    except SnapshotError as exc:
        raise CloneError(str(exc)) from exc
    base = f"http://127.0.0.1:{restored.record.agent_port}/pool/v1"
    headers = {
        "authorization": f"Bearer {restored.pool_token}",
        "content-type": "application/json",
    }
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(timeout=within_s) as client:
        # First until the guest answers at all: right after ``cont`` it catches up on timers, and
        # the clock it is given must not age in a queue.
        last = "no answer"
        while True:
            try:
                probe = await client.get(f"{base}/health", timeout=5)
                if probe.status_code == 200:
                    break
                last = f"HTTP {probe.status_code}"
            except httpx.HTTPError as exc:
                last = str(exc) or type(exc).__name__
            if time.monotonic() >= deadline:
                raise CloneError(f"the clone's agent is unreachable: {last}")
            await asyncio.sleep(0.05)
        restored.timings["responsive_ms"] = (time.perf_counter() - started) * 1000
        # The host clock is read right before sending: the agent adds its own transit time.
        body = request.model_copy(update={"host_time_ns": time.time_ns()}).model_dump_json()
        try:
            response = await client.post(f"{base}/resume", content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise CloneError(f"resume call failed: {exc}") from exc
    restored.timings["resume_call_ms"] = (time.perf_counter() - started) * 1000
    if response.status_code not in (200, 502):
        raise CloneError(f"resume refused: HTTP {response.status_code}: {response.text[:300]}")
    answer = ResumeResponse.model_validate_json(response.content)
    if not answer.enrolled:
        raise CloneError(f"the clone resumed but did not enroll: {answer.error}")
    return answer


def new_resume_request(
    *,
    desk_id: str,
    hostname: str,
    agent_env: list[tuple[str, str]],
    control_plane_ca_pem: str,
    bootstrap_token: str,
    data_disk_device: str | None,
    ssh_authorized_keys: list[str] | None = None,
) -> ResumeRequest:
    """The resume body; 48 fresh bytes from the host's CSPRNG for the guest's kernel RNG."""
    return ResumeRequest(
        desk_id=desk_id,
        hostname=hostname,
        agent_env=agent_env,
        control_plane_ca_pem=control_plane_ca_pem,
        bootstrap_token=bootstrap_token,  # type: ignore[arg-type]
        ssh_authorized_keys=ssh_authorized_keys or [],
        data_disk_device=data_disk_device,
        host_time_ns=time.time_ns(),
        entropy_b64=base64.b64encode(os.urandom(48)).decode(),
    )


async def discard(restored_dir: Path) -> None:
    """Kill the clone's QEMU (if any) and remove its directory."""
    pid = qemu_proc.read_pid(restored_dir / files.PIDFILE, str(restored_dir))
    if pid is not None:
        with contextlib.suppress(TransientDriverError):
            await asyncio.to_thread(qemu_proc.terminate, pid, 1.0)
    await asyncio.to_thread(shutil.rmtree, restored_dir, True)
