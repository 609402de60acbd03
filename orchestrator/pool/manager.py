"""The warm pool: one template per size class, N prepared slots each, assignment on demand.

``BUREAU_POOL_SIZE`` slots per size class (0 = off, the default). A background task builds the
template when missing (or when the image, accelerator or forwards changed) and refills slots.
Assignment takes a slot, restores the template's state into it under a watchdog, resumes it with
the desk's settings and returns the handle; any failure removes the clone and returns None so
the caller boots the desk cold. A broken template (a restore that fails) is deleted and rebuilt.

Crash safety: slots and templates are plain directories (``.partial`` while being made); no
process runs for an unassigned slot. At start, partial directories are removed and a template
QEMU left behind by a crash is killed, so a control-plane restart leaves no orphan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cloud_init.render import agent_env
from cloud_init.settings import DeskBootSettings
from orchestrator.drivers import qemu_desk as files
from orchestrator.drivers import qemu_proc
from orchestrator.drivers.base import (
    DESK_SIZES,
    DeskHandle,
    DeskSize,
    DeskSpec,
    ProgressFn,
    TransientDriverError,
)
from orchestrator.drivers.qemu_accel import Accel, choose_accel
from orchestrator.drivers.qemu_desk import DeskDir, DeskRecord
from orchestrator.drivers.qemu_settings import HostForward, QemuSettings
from orchestrator.image import ImageBuildError, installed_image
from orchestrator.image.manifest import Manifest
from orchestrator.pool.clone import (
    CloneError,
    discard,
    new_resume_request,
    prepare_slot,
    restore_into,
    resume_clone,
    scrub_pool_token,
    slot_template_key,
)
from orchestrator.pool.machine import MachineShape
from orchestrator.pool.settings import PoolSettings
from orchestrator.pool.template import Template, TemplateError, build_template, template_key

log = logging.getLogger(__name__)


@dataclass
class PoolStats:
    assigned: int = 0
    misses: int = 0
    failures: int = 0
    last_error: str = ""
    last_timings: dict[str, float] = field(default_factory=dict)


class PoolManager:
    def __init__(
        self,
        data_dir: Path,
        *,
        settings: PoolSettings | None = None,
        qemu: QemuSettings | None = None,
        control_plane: tuple[str, int] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.settings = settings or PoolSettings()
        self.qemu = qemu or QemuSettings()
        self.control_plane = control_plane
        self.root = data_dir / "qemu" / "pool"
        self.templates_dir = self.root / "templates"
        self.slots_dir = self.root / "slots"
        self.desks_dir = data_dir / "qemu" / "desks"
        self.stats = PoolStats()
        self._templates: dict[str, Template] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._build_lock = asyncio.Lock()
        self._taking = asyncio.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.settings.size > 0 and self.qemu.network == "restricted"

    def cleanup(self) -> None:
        """Remove what a crash left half-made; kill a template QEMU left running; scrub the pool
        token of a desk whose assignment a crash interrupted (resumed or not, its token is
        spent: this process has no assignment in flight yet)."""
        for path in self.desks_dir.iterdir() if self.desks_dir.is_dir() else ():
            with contextlib.suppress(OSError, ValueError):
                if scrub_pool_token(path):
                    log.info("pool: scrubbed the pool token left in %s", path)
        for parent in (self.templates_dir, self.slots_dir):
            if not parent.is_dir():
                continue
            for path in parent.iterdir():
                if path.name.endswith(".partial"):
                    pid = qemu_proc.read_pid(path / files.PIDFILE, str(path))
                    if pid is not None:
                        with contextlib.suppress(TransientDriverError):
                            qemu_proc.terminate(pid, 2.0)
                    shutil.rmtree(path, ignore_errors=True)

    async def start(self) -> None:
        if not self.enabled or self._task is not None:
            return
        await asyncio.to_thread(self.cleanup)
        self._task = asyncio.create_task(self._run(), name="bureau-pool")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.refill()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the pool must never take the control plane down
                self.stats.last_error = str(exc)
                log.warning("pool refill failed: %s", exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.refill_interval_seconds)

    # -- templates and slots ------------------------------------------------------------------

    def _shape(self, size: DeskSize, kernel_cmdline: str, accel: Accel) -> MachineShape:
        forwards = list(self.qemu.forwards())
        if self.control_plane is not None:
            host, port = self.control_plane
            forwards.insert(0, HostForward(port, host, port))
        return MachineShape(
            memory_mib=size.memory_mib,
            vcpus=size.vcpus,
            accel=accel,
            tcg_tb_size_mib=self.qemu.tcg_tb_size_mib,
            kernel_cmdline=f"{kernel_cmdline} {self.qemu.kernel_args}".strip(),
            forwards=tuple(forwards),
            binary=self.qemu.binary,
        )

    def _current(self, size: DeskSize) -> tuple[Path, Manifest, MachineShape]:
        try:
            found = installed_image(self.data_dir, self.qemu.image)
        except ImageBuildError as exc:
            raise TemplateError(str(exc)) from exc
        if found is None:
            raise TemplateError(f"no guest image {self.qemu.image!r}: run `bureau image build`")
        image_dir, manifest = found
        if manifest.boot != "kernel":
            raise TemplateError("the pool needs a direct-kernel-boot image")
        accel = choose_accel(
            self.qemu.accel,
            self.qemu.binary,
            image_dir / "vmlinuz",
            image_dir / "initrd.img",
            self.data_dir / "qemu" / "accel.json",
            self.qemu.probe_timeout_seconds,
        )
        shape = self._shape(size, manifest.kernel_cmdline, accel)
        return image_dir, manifest, shape

    async def template(self, size: DeskSize, progress: ProgressFn | None = None) -> Template:
        """The current template of ``size``, built first when missing (minutes under TCG)."""
        image_dir, manifest, shape = await asyncio.to_thread(self._current, size)
        key = template_key(manifest.key, size, shape)
        cached = self._templates.get(size.name)
        if cached is not None and cached.record.key == key and cached.path.is_dir():
            return cached
        async with self._build_lock:
            template = await build_template(
                self.templates_dir,
                image_dir=image_dir,
                image_name=manifest.name,
                image_key=manifest.key,
                python_version=manifest.python_version,
                size=size,
                shape=shape,
                control_plane_port=self.control_plane[1] if self.control_plane else None,
                boot_timeout=self.settings.template_boot_timeout_seconds,
                progress=progress or (lambda line: log.info("%s", line)),
            )
        self._templates[size.name] = template
        await asyncio.to_thread(self._drop_stale, size, key)
        return template

    def use_template(self, template: Template) -> None:
        """Serve ``size`` from an already built template (tests, benchmarks, a restart)."""
        self._templates[template.record.size] = template

    def _drop_stale(self, size: DeskSize, key: str) -> None:
        """Old templates and their slots go (assigned desks hold hard links, not references)."""
        for path in self.templates_dir.iterdir() if self.templates_dir.is_dir() else ():
            if path.name.startswith(f"{size.name}-") and path.name != key:
                shutil.rmtree(path, ignore_errors=True)
        for slot in self.slots():
            owner = slot_template_key(slot)
            if owner is not None and owner.startswith(f"{size.name}-") and owner != key:
                shutil.rmtree(slot, ignore_errors=True)

    def slots(self, key: str | None = None) -> list[Path]:
        if not self.slots_dir.is_dir():
            return []
        found = [
            p
            for p in sorted(self.slots_dir.iterdir())
            if p.is_dir() and not p.name.endswith(".partial")
        ]
        return [p for p in found if key is None or slot_template_key(p) == key]

    async def refill(self) -> None:
        for name in self.settings.classes():
            size = DESK_SIZES.get(name)
            if size is None:
                continue
            template = await self.template(size)
            while len(self.slots(template.record.key)) < self.settings.size:
                await asyncio.to_thread(prepare_slot, template, self.slots_dir)

    def discard_template(self, template: Template) -> None:
        """A template whose state no longer restores: remove it (and its slots)."""
        self._templates = {k: t for k, t in self._templates.items() if t is not template}
        for slot in self.slots(template.record.key):
            shutil.rmtree(slot, ignore_errors=True)
        shutil.rmtree(template.path, ignore_errors=True)

    # -- assignment ---------------------------------------------------------------------------

    def memory_budget_mib(self) -> int:
        """Guest memory running desks may hold before the pool sends new desks down the cold
        path: ``BUREAU_POOL_MEMORY_BUDGET_MIB``, else the qemu driver's limit, else host memory
        minus the driver's reserve."""
        limit = self.settings.memory_budget_mib
        if limit is None:
            limit = self.qemu.memory_limit_mib
        if limit is None:
            limit = qemu_proc.mem_total_mib() - self.qemu.memory_reserve_mib
        return limit

    def _memory_fits(self, memory_mib: int) -> bool:
        limit = self.memory_budget_mib()
        used = 0
        for path in self.desks_dir.iterdir() if self.desks_dir.is_dir() else ():
            desk = DeskDir(self.desks_dir, path.name)
            record = desk.record()
            if record is not None and qemu_proc.read_pid(desk.file(files.PIDFILE), str(desk.path)):
                used += record.memory_mib
        return used + memory_mib <= limit

    async def _take_slot(self, size: DeskSize) -> tuple[Template, Path] | None:
        template = self._templates.get(size.name)
        if template is None or not template.path.is_dir():
            return None
        async with self._taking:
            free = self.slots(template.record.key)
            if not free:
                return None
            return template, free[0]

    async def assign(
        self, spec: DeskSpec, boot: DeskBootSettings, progress: ProgressFn
    ) -> DeskHandle | None:
        """A running, enrolled desk from the pool, or None (then boot it cold)."""
        if not self.enabled or spec.size.name not in self.settings.classes():
            return None
        if boot.ssh_authorized_keys:
            progress("pool: SSH keys requested, booting cold (the template keeps SSH closed)")
            return None
        desk = DeskDir(self.desks_dir, spec.desk_id)
        if desk.exists():
            return None
        if not self._memory_fits(spec.size.memory_mib):
            progress("pool: host memory budget reached, booting cold")
            return None
        taken = await self._take_slot(spec.size)
        if taken is None:
            self.stats.misses += 1
            progress("pool: no prepared clone, booting cold")
            self._wake.set()
            return None
        template, slot = taken
        started = time.perf_counter()
        try:
            restored = await restore_into(
                template,
                slot,
                desk,
                name=spec.name,
                restore_timeout=self.settings.restore_timeout_seconds,
                tcg_tb_size_mib=self.settings.clone_tcg_tb_size_mib,
                kernel_args=self.qemu.kernel_args,
            )
        except CloneError as exc:
            await self._failed(desk, template, exc, progress, broken_template=True)
            return None
        finally:
            self._wake.set()
        progress(f"pool: restored {template.record.key} in {restored.timings['restore_ms']:.0f} ms")
        request = new_resume_request(
            desk_id=spec.desk_id,
            hostname=boot.hostname,
            agent_env=agent_env(boot),
            control_plane_ca_pem=boot.control_plane_ca_pem,
            bootstrap_token=boot.bootstrap_token,
            data_disk_device=boot.data_disk_device,
        )
        try:
            answer = await resume_clone(
                restored, request, within_s=self.settings.resume_timeout_seconds
            )
        except CloneError as exc:
            await self._failed(desk, template, exc, progress, broken_template=False)
            return None
        timings = dict(restored.timings)
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        timings.update({f"guest_{s.name}_ms": s.ms for s in answer.steps})
        self.stats.assigned += 1
        self.stats.last_timings = timings
        progress(
            f"pool: resumed and enrolled in {timings['resume_call_ms']:.0f} ms "
            f"(restore {timings['restore_ms']:.0f} ms)"
        )
        record: DeskRecord = restored.record
        return DeskHandle(
            desk_id=spec.desk_id,
            driver="qemu",
            agent_url=restored.agent_url,
            details={
                "pid": str(restored.pid),
                "accelerator": record.accel or "",
                "network": record.network,
                "directory": str(desk.path),
                "pool_template": template.record.key,
                "pool_restore_ms": f"{timings['restore_ms']:.0f}",
                "pool_resume_ms": f"{timings['resume_call_ms']:.0f}",
            },
        )

    async def _failed(
        self,
        desk: DeskDir,
        template: Template,
        exc: Exception,
        progress: ProgressFn,
        *,
        broken_template: bool,
    ) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(exc)
        progress(f"pool: {exc}; booting cold instead")
        await discard(desk.path)
        if broken_template:
            await asyncio.to_thread(self.discard_template, template)
        self._wake.set()

    def _class_status(self, name: str, budget: int | None) -> dict[str, Any]:
        template = self._templates.get(name)
        partial = 0
        if self.slots_dir.is_dir():
            partial = sum(p.name.endswith(".partial") for p in self.slots_dir.iterdir())
        if template is not None and template.path.is_dir():
            ready = len(self.slots(template.record.key))
            record = template.record
            tpl: dict[str, Any] = {
                "state": "ready",
                "key": record.key,
                "age_seconds": round(time.time() - record.built_at),
                "build_seconds": record.build_seconds,
            }
        else:
            ready = 0
            tpl = {"state": "building" if self._build_lock.locked() else "missing"}
        return {
            "driver": "qemu",
            "size_class": name,
            "target": self.settings.size,
            "ready": ready,
            "preparing": partial,
            "assigning": 0,
            "failed": self.stats.failures,
            "template": tpl,
            "memory_budget_mib": budget,
            "server_type": None,
            "price_eur_per_hour": None,
            "cost_eur_per_hour": None,
        }

    def status(self) -> dict[str, Any]:
        try:
            budget: int | None = self.memory_budget_mib()
        except OSError:
            budget = None
        return {
            "driver": "qemu",
            "pools": [self._class_status(name, budget) for name in self.settings.classes()],
            "enabled": self.enabled,
            "size": self.settings.size,
            "classes": self.settings.classes(),
            "templates": {name: t.record.key for name, t in self._templates.items()},
            "slots": len(self.slots()),
            "assigned": self.stats.assigned,
            "misses": self.stats.misses,
            "failures": self.stats.failures,
            "last_error": self.stats.last_error,
            "last_timings": self.stats.last_timings,
        }


def control_plane_from_driver(driver: object, public_url: str | None) -> tuple[str, int] | None:
    """Where the guest forward must lead: what the qemu driver learned, else the public URL."""
    known = getattr(driver, "_control_plane", None)
    if isinstance(known, tuple) and len(known) == 2:
        return (str(known[0]), int(known[1]))
    if public_url is None:
        return None
    parts = urlsplit(public_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return ("127.0.0.1", port)
