"""The qemu driver: local desks as QEMU VMs on this host.

Each desk: direct kernel boot of the installed guest image (``bureau image build``), a qcow2
overlay on the image, a NoCloud seed ISO (rendered user-data; never a key), a persistent qcow2 data
disk (``/dev/vdb``, ext4 ``bureau-data``), a serial console log. QEMU runs daemonized with a
pidfile and a QMP socket in the desk's directory, so desks outlive the control plane and a new
driver object re-adopts them from ``<data_dir>/qemu/desks/``. Networking: see qemu_net.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from orchestrator.drivers import qemu_desk as files
from orchestrator.drivers import qemu_disks, qemu_net, qemu_proc
from orchestrator.drivers.base import (
    DeskHandle,
    DeskSpec,
    Driver,
    MachineState,
    ManagedMachine,
    PermanentDriverError,
    ProgressFn,
    TransientDriverError,
)
from orchestrator.drivers.qemu_accel import Accel, choose_accel
from orchestrator.drivers.qemu_desk import DeskDir, DeskRecord
from orchestrator.drivers.qemu_qmp import Qmp, QmpError
from orchestrator.drivers.qemu_settings import GUEST_HOST_ADDRESS, HostForward, QemuSettings
from orchestrator.image import ImageBuildError, installed_image

#: The data disk as the guest sees it (root = vda, data = vdb, seed = vdc).
GUEST_DATA_DISK = "/dev/vdb"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class QemuDriver:
    name = "qemu"
    guest_data_disk_device: str | None = GUEST_DATA_DISK

    def __init__(self, data_dir: Path, settings: QemuSettings | None = None) -> None:
        self.data_dir = data_dir
        self.settings = settings or QemuSettings()
        self.root = data_dir / "qemu" / "desks"
        self._control_plane: tuple[str, int] | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    # -- control plane hooks ------------------------------------------------------------------

    def guest_control_plane_url(self, control_plane_url: str) -> str:
        """The control plane's URL as the guest sees it; remembers the port to forward."""
        parts = urlsplit(control_plane_url)
        if parts.port is None and parts.scheme not in ("http", "https"):
            raise PermanentDriverError(f"bad control plane URL {control_plane_url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or "127.0.0.1"
        if host in ("0.0.0.0", "localhost", "::", ""):
            host = "127.0.0.1"
        self._control_plane = (host, port)
        return f"{parts.scheme}://{GUEST_HOST_ADDRESS}:{port}"

    # -- driver protocol ----------------------------------------------------------------------

    async def create(self, spec: DeskSpec, progress: ProgressFn) -> DeskHandle:
        async with self._lock(spec.desk_id):
            desk = DeskDir(self.root, spec.desk_id)
            record = desk.record()
            if record is not None:
                handle = self._running_handle(desk, record)
                if handle is not None:
                    return handle
            else:
                record = await asyncio.to_thread(self._prepare, desk, spec, progress)
            return await self._boot(desk, record, progress)

    async def start(self, spec: DeskSpec, progress: ProgressFn) -> DeskHandle:
        async with self._lock(spec.desk_id):
            desk = DeskDir(self.root, spec.desk_id)
            record = desk.record()
            if record is None:
                raise PermanentDriverError(
                    f"desk {spec.desk_id} has no local machine (its disks are gone); delete it"
                )
            handle = self._running_handle(desk, record)
            if handle is not None:
                return handle
            return await self._boot(desk, record, progress)

    async def stop(self, desk_id: str, progress: ProgressFn) -> None:
        async with self._lock(desk_id):
            desk = DeskDir(self.root, desk_id)
            pid = self._pid(desk)
            if pid is not None:
                await self._shutdown(desk, pid, progress)
            self._cleanup_runtime(desk)

    async def destroy(self, desk_id: str, progress: ProgressFn) -> None:
        async with self._lock(desk_id):
            desk = DeskDir(self.root, desk_id)
            pid = self._pid(desk)
            if pid is not None:
                progress(f"killing QEMU (pid {pid})")
                await asyncio.to_thread(qemu_proc.terminate, pid)
            self._cleanup_runtime(desk)
            if desk.exists():
                await asyncio.to_thread(shutil.rmtree, desk.path)
                progress("removed the desk's disks, seed and logs")

    async def status(self, desk_id: str) -> MachineState:
        desk = DeskDir(self.root, desk_id)
        if not desk.exists():
            return MachineState.MISSING
        return MachineState.RUNNING if self._pid(desk) is not None else MachineState.STOPPED

    async def list_managed(self) -> list[ManagedMachine]:
        if not self.root.is_dir():
            return []
        machines = []
        for path in sorted(self.root.iterdir()):
            if not path.is_dir():
                continue
            desk = DeskDir(self.root, path.name)
            record = desk.record()
            handle = self._running_handle(desk, record) if record is not None else None
            if handle is not None:
                machines.append(ManagedMachine(path.name, MachineState.RUNNING, handle))
            else:
                machines.append(ManagedMachine(path.name, MachineState.STOPPED))
        return machines

    async def console_excerpt(self, desk_id: str, max_bytes: int = 4096) -> str:
        return DeskDir(self.root, desk_id).console_tail(max_bytes)

    # -- steps --------------------------------------------------------------------------------

    def _lock(self, desk_id: str) -> asyncio.Lock:
        return self._locks.setdefault(desk_id, asyncio.Lock())

    def _pid(self, desk: DeskDir) -> int | None:
        return qemu_proc.read_pid(desk.file(files.PIDFILE), str(desk.path))

    def _running_handle(self, desk: DeskDir, record: DeskRecord) -> DeskHandle | None:
        pid = self._pid(desk)
        if pid is None or record.agent_port is None:
            return None
        return DeskHandle(
            desk_id=desk.desk_id,
            driver=self.name,
            agent_url=f"https://127.0.0.1:{record.agent_port}",
            details={
                "pid": str(pid),
                "accelerator": record.accel or "",
                "network": record.network,
                "directory": str(desk.path),
            },
        )

    def _prepare(self, desk: DeskDir, spec: DeskSpec, progress: ProgressFn) -> DeskRecord:
        """Disks and seed for a new desk (blocking; run in a thread)."""
        try:
            found = installed_image(self.data_dir, self.settings.image)
        except ImageBuildError as exc:
            raise PermanentDriverError(str(exc)) from exc
        if found is None:
            raise PermanentDriverError(
                f"no guest image {self.settings.image!r} in {self.data_dir / 'images'}: "
                "run `bureau image build` (as root) and retry"
            )
        image_dir, manifest = found
        partial = desk.path.with_name(desk.path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        progress(f"preparing disks from image {manifest.name} ({manifest.key[:12]})")
        for name in manifest.files:
            target = {"disk.qcow2": files.BASE}.get(name, name)
            try:
                os.link(image_dir / name, partial / target)
            except OSError:
                shutil.copy2(image_dir / name, partial / target)
        qemu_disks.create_overlay(partial / files.ROOT, files.BASE)
        qemu_disks.create_data_disk(partial / files.DATA, spec.size.disk_gib)
        qemu_disks.write_seed(
            partial / files.SEED,
            spec.user_data,
            gzipped=spec.user_data_gzipped,
            instance_id=spec.desk_id,
            hostname=spec.desk_id.replace("_", "-").lower()[:63],
        )
        record = DeskRecord(
            desk_id=spec.desk_id,
            name=spec.name,
            image=manifest.name,
            image_key=manifest.key,
            boot=manifest.boot,
            kernel_cmdline=manifest.kernel_cmdline,
            memory_mib=spec.size.memory_mib,
            vcpus=spec.size.vcpus,
            disk_gib=spec.size.disk_gib,
            network=self.settings.network,
        )
        DeskDir(partial.parent, partial.name).save(record)
        partial.rename(desk.path)
        return record

    def _check_memory(self, desk: DeskDir, record: DeskRecord) -> None:
        limit = self.settings.memory_limit_mib
        if limit is None:
            limit = qemu_proc.mem_total_mib() - self.settings.memory_reserve_mib
        used = 0
        running = 0
        for machine_dir in self.root.iterdir() if self.root.is_dir() else ():
            other = DeskDir(self.root, machine_dir.name)
            other_record = other.record()
            if other.desk_id == desk.desk_id or other_record is None or self._pid(other) is None:
                continue
            used += other_record.memory_mib
            running += 1
        if used + record.memory_mib > limit:
            raise PermanentDriverError(
                f"not enough host memory for desk {desk.desk_id}: it needs "
                f"{record.memory_mib} MiB, "
                f"{running} running desk(s) use {used} MiB of the {limit} MiB allowed; stop a desk "
                "or raise BUREAU_QEMU_MEMORY_LIMIT_MIB"
            )

    def _forwards(self, record: DeskRecord, progress: ProgressFn) -> list[HostForward]:
        forwards = self.settings.forwards()
        control_plane = self._control_plane
        if control_plane is None and record.control_plane_port is not None:
            control_plane = ("127.0.0.1", record.control_plane_port)
        if control_plane is None and self.settings.control_plane_port is not None:
            control_plane = ("127.0.0.1", self.settings.control_plane_port)
        if control_plane is None:
            progress("warning: control plane port unknown; the guest cannot enroll")
            return forwards
        host, port = control_plane
        record.control_plane_port = port
        return [HostForward(port, host, port), *forwards]

    async def _boot(self, desk: DeskDir, record: DeskRecord, progress: ProgressFn) -> DeskHandle:
        accel = await asyncio.to_thread(self._accel, desk, record)
        progress(f"accelerator: {accel.reason}")
        record.accel = accel.name
        self._check_memory(desk, record)
        forwards = self._forwards(record, progress)
        last_error: TransientDriverError | None = None
        for _attempt in range(3):
            port = record.agent_port or _free_port()
            record.agent_port = port
            desk.save(record)
            try:
                await asyncio.to_thread(self._launch, desk, record, accel, forwards)
            except TransientDriverError as exc:
                last_error = exc
                if "hostfwd" not in str(exc) and "host forwarding" not in str(exc):
                    break
                record.agent_port = None  # the port was taken meanwhile: pick another
                continue
            handle = self._running_handle(desk, record)
            if handle is None:
                excerpt = desk.console_tail(1500)
                raise TransientDriverError(f"QEMU exited right after starting; console:\n{excerpt}")
            progress(
                f"QEMU running (pid {handle.details['pid']}, {accel.name.upper()}, "
                f"{record.vcpus} vCPU, {record.memory_mib} MiB); agent at {handle.agent_url}"
            )
            return handle
        assert last_error is not None
        raise last_error

    def _accel(self, desk: DeskDir, record: DeskRecord) -> Accel:
        mode = self.settings.accel
        if record.boot != "kernel" and mode == "auto":
            return Accel("tcg", "TCG: disk-boot image, no kernel to probe KVM with")
        return choose_accel(
            mode,
            self.settings.binary,
            desk.file(files.KERNEL),
            desk.file(files.INITRD),
            self.data_dir / "qemu" / "accel.json",
            self.settings.probe_timeout_seconds,
        )

    def _launch(
        self, desk: DeskDir, record: DeskRecord, accel: Accel, forwards: list[HostForward]
    ) -> None:
        self._cleanup_runtime(desk)
        passt_socket = None
        if record.network == "passt":
            runtime = qemu_net.passt_dir(desk.desk_id, desk.path)
            qemu_net.prepare_passt_dir(runtime)
            qemu_net.start_passt(runtime / files.PASST_SOCKET, runtime / files.PASST_PID)
            passt_socket = str(runtime / files.PASST_SOCKET)
        assert record.agent_port is not None
        cmd = [
            self.settings.binary,
            "-name", f"bureau-{record.desk_id}", "-M", "q35",
            *accel.qemu_args(self.settings.tcg_tb_size_mib),
            "-m", str(record.memory_mib), "-smp", str(record.vcpus),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-drive", f"file={files.ROOT},if=virtio,format=qcow2,discard=unmap",
            "-drive", f"file={files.DATA},if=virtio,format=qcow2,discard=unmap",
            "-drive", f"file={files.SEED},if=virtio,format=raw,readonly=on",
            "-device", "virtio-rng-pci",
            *qemu_net.netdev_args(record.agent_port, forwards, passt_socket),
            "-chardev", f"file,id=console,path={files.CONSOLE}",
            "-serial", "chardev:console",
            "-qmp", f"unix:{files.QMP},server=on,wait=off",
            # Absolute: the desk directory in the command line identifies the process.
            "-pidfile", str(desk.file(files.PIDFILE)), "-daemonize",
            "-uuid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"bureau-desk:{record.desk_id}")),
        ]  # fmt: skip
        if record.boot == "kernel":
            cmdline = qemu_net.kernel_cmdline(
                record.kernel_cmdline, self.settings.kernel_args, egress=passt_socket is not None
            )
            cmd += ["-kernel", files.KERNEL, "-initrd", files.INITRD, "-append", cmdline]
        qemu_proc.launch_daemonized(cmd, desk.path, desk.file(files.QEMU_ERR))

    async def _shutdown(self, desk: DeskDir, pid: int, progress: ProgressFn) -> None:
        timeout = self.settings.stop_timeout_seconds
        progress(f"ACPI shutdown (timeout {timeout:.0f}s)")
        try:
            qmp = await Qmp.connect(desk.file(files.QMP))
            try:
                await qmp.execute("system_powerdown")
            finally:
                await qmp.close()
        except QmpError as exc:
            progress(f"QMP unavailable ({exc}); killing QEMU")
        else:
            if await asyncio.to_thread(qemu_proc.wait_gone, pid, timeout):
                progress("guest powered off")
                return
            progress(f"guest did not power off within {timeout:.0f}s; killing QEMU")
        await asyncio.to_thread(qemu_proc.terminate, pid)

    def _cleanup_runtime(self, desk: DeskDir) -> None:
        runtime = qemu_net.passt_dir(desk.desk_id, desk.path)
        passt_pid = qemu_proc.read_pid(runtime / files.PASST_PID, "passt")
        if passt_pid is not None:
            qemu_proc.terminate(passt_pid)
        for name in (files.PIDFILE, files.QMP):
            desk.file(name).unlink(missing_ok=True)
        for name in (files.PASST_SOCKET, files.PASST_PID):
            (runtime / name).unlink(missing_ok=True)
        if runtime != desk.path and runtime.is_dir():
            shutil.rmtree(runtime, ignore_errors=True)


def create_driver(data_dir: Path) -> Driver:
    """Plugin entry point (orchestrator.drivers.factory): settings from ``BUREAU_QEMU_*``."""
    return QemuDriver(data_dir)
