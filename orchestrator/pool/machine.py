"""The QEMU command line shared by a pool template and its clones.

A clone must be started with the same devices as the template it restores (only the
``hostfwd`` port, the pidfile and ``-incoming`` differ), so both come from ``pool_command``.
Paths of disks are relative to the machine's directory (QEMU runs there), exactly like the qemu
driver's desks, so an assigned clone is an ordinary desk directory to that driver afterwards.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.drivers import qemu_desk as files
from orchestrator.drivers import qemu_net
from orchestrator.drivers.qemu_accel import Accel
from orchestrator.drivers.qemu_settings import HostForward

RAM_FILE = "ram"
STATE_FILE = "state"
#: The template's root overlay, hard-linked into each clone and used as its overlay's backing.
TEMPLATE_ROOT = "template-root.qcow2"
#: Fixed so template and clones agree; the guest read it from its firmware tables at boot.
POOL_UUID = "6b0d3c2e-6f1c-4a57-9f3e-b0b0b0b0b0b0"


@dataclass(frozen=True)
class MachineShape:
    """Everything that must be identical between a template and its clones."""

    memory_mib: int
    vcpus: int
    accel: Accel
    tcg_tb_size_mib: int
    kernel_cmdline: str
    forwards: tuple[HostForward, ...]
    binary: str = "qemu-system-x86_64"


def pool_command(
    shape: MachineShape,
    *,
    name: str,
    ram_file: Path,
    share_ram: bool,
    agent_port: int,
    pidfile: Path,
    incoming: bool,
) -> list[str]:
    """QEMU arguments; ``share_ram``: the template (writes its RAM file) vs a clone (COW map)."""
    ram = (
        f"memory-backend-file,id=pool-ram,size={shape.memory_mib}M,"
        f"mem-path={ram_file},share={'on' if share_ram else 'off'}"
    )
    cmd = [
        shape.binary,
        "-name", name, "-machine", "q35,memory-backend=pool-ram",
        *shape.accel.qemu_args(shape.tcg_tb_size_mib),
        "-object", ram,
        "-m", str(shape.memory_mib), "-smp", str(shape.vcpus),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-drive", f"file={files.ROOT},if=virtio,format=qcow2,discard=unmap",
        "-drive", f"file={files.DATA},if=virtio,format=qcow2,discard=unmap",
        "-drive", f"file={files.SEED},if=virtio,format=raw,readonly=on",
        "-device", "virtio-rng-pci",
        # A new generation id on every restore: Linux reseeds its CRNG when it changes.
        "-device", "vmgenid,guid=auto",
        *qemu_net.netdev_args(agent_port, list(shape.forwards), None),
        "-chardev", f"file,id=console,path={files.CONSOLE}",
        "-serial", "chardev:console",
        "-qmp", f"unix:{files.QMP},server=on,wait=off",
        "-pidfile", str(pidfile),
        "-uuid", POOL_UUID,
        "-kernel", files.KERNEL, "-initrd", files.INITRD, "-append", shape.kernel_cmdline,
    ]  # fmt: skip
    if incoming:
        cmd += ["-incoming", "defer", "-S"]
    return cmd


class LaunchError(Exception):
    """QEMU did not come up (its stderr is in the message)."""


def launch(cmd: list[str], cwd: Path, error_log: Path, *, within_s: float = 60.0) -> int:
    """Start QEMU in its own session (not ``-daemonize``: its stderr stays in ``error_log``, where
    migration errors are reported) and return its pid once its QMP socket exists.

    A thread reaps it while this process lives; after a control-plane restart init does.
    """
    with error_log.open("ab") as stderr:
        try:
            proc = subprocess.Popen(
                cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=stderr, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            raise LaunchError(f"cannot run {cmd[0]}: {exc}") from exc
    threading.Thread(target=proc.wait, name=f"reap-qemu-{proc.pid}", daemon=True).start()
    deadline = time.monotonic() + within_s
    qmp = cwd / files.QMP
    while not qmp.exists():
        if proc.poll() is not None or time.monotonic() >= deadline:
            if proc.poll() is None:
                proc.kill()
            detail = error_log.read_text(errors="replace").strip()[-800:]
            raise LaunchError(f"QEMU did not start (exit {proc.returncode}): {detail}")
        time.sleep(0.02)
    return proc.pid
