"""QEMU processes on this host: launch daemonized, find by pidfile, end them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from orchestrator.drivers.base import PermanentDriverError, TransientDriverError


def read_pid(pidfile: Path, marker: str) -> int | None:
    """The live process in ``pidfile`` whose command line contains ``marker``, else None.

    The marker (the desk's directory) guards against a recycled pid after a host reboot.
    """
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    if marker.encode() not in cmdline:
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    return None if state == "Z" else pid


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def terminate(pid: int, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if wait_gone(pid, wait):
            return
    raise TransientDriverError(f"process {pid} survived SIGKILL")


def launch_daemonized(cmd: list[str], cwd: Path, error_log: Path) -> None:
    """Run QEMU with ``-daemonize``: returns once the VM is set up (or raises with its stderr)."""
    with error_log.open("wb") as stderr:
        try:
            result = subprocess.run(
                cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=stderr, check=False, timeout=120, start_new_session=True,
            )  # fmt: skip
        except FileNotFoundError as exc:
            raise PermanentDriverError(
                f"{cmd[0]} is not installed (Debian: apt-get install qemu-system-x86)"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise TransientDriverError("QEMU did not finish starting within 120 s") from exc
    if result.returncode != 0:
        detail = error_log.read_text(errors="replace").strip()[-800:]
        raise TransientDriverError(f"QEMU failed to start (exit {result.returncode}): {detail}")


def mem_total_mib() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise PermanentDriverError("cannot read MemTotal from /proc/meminfo")
