"""Save and restore a running QEMU VM through QMP (the warm pool's snapshot mechanics).

Save: ``stop``, then ``migrate "exec:cat > state"``. With the guest RAM in a
``memory-backend-file,share=on`` and the ``x-ignore-shared`` capability, the stream holds only
device state (the RAM stays in the file); clones map that file ``share=off`` (copy on write, so
idle clones share its page cache) and load the stream with ``-incoming defer`` +
``migrate-incoming``. A broken stream can make the destination spin forever, so every restore runs
under a deadline and the caller kills the process when it passes (``RestoreTimeout``).
"""

from __future__ import annotations

import asyncio
import shlex
import time
from pathlib import Path
from typing import Any

from orchestrator.drivers.qemu_qmp import Qmp, QmpError

IGNORE_SHARED = "x-ignore-shared"


class SnapshotError(Exception):
    """Saving or restoring a VM state failed (the message says at which step)."""


class RestoreTimeout(SnapshotError):
    """The incoming migration did not complete in time: kill the process."""


async def _set_ignore_shared(qmp: Qmp, enabled: bool) -> None:
    await qmp.execute(
        "migrate-set-capabilities",
        {"capabilities": [{"capability": IGNORE_SHARED, "state": enabled}]},
    )


async def _wait_migration(qmp: Qmp, deadline: float, what: str) -> dict[str, Any]:
    while True:
        info: dict[str, Any] = await qmp.execute("query-migrate")
        status = info.get("status")
        if status == "completed":
            return info
        if status in ("failed", "cancelled"):
            detail = info.get("error-desc", status)
            raise SnapshotError(f"{what} failed: {detail}")
        if time.monotonic() >= deadline:
            raise RestoreTimeout(f"{what} still {status!r} at the deadline")
        await asyncio.sleep(0.02)


async def save_vm(
    qmp_socket: Path, state_file: Path, *, ignore_shared: bool, within_s: float
) -> None:
    """Pause the VM and write its state to ``state_file``; the VM stays paused."""
    deadline = time.monotonic() + within_s
    try:
        qmp = await Qmp.connect(qmp_socket)
    except QmpError as exc:
        raise SnapshotError(str(exc)) from exc
    try:
        await qmp.execute("stop")
        await _set_ignore_shared(qmp, ignore_shared)
        uri = f"exec:cat > {shlex.quote(str(state_file))}"
        await qmp.execute("migrate", {"uri": uri})
        await _wait_migration(qmp, deadline, "saving the VM state")
    except QmpError as exc:
        raise SnapshotError(f"saving the VM state: {exc}") from exc
    finally:
        await qmp.close()


async def restore_vm(
    qmp_socket: Path, state_file: Path, *, ignore_shared: bool, within_s: float
) -> None:
    """Load ``state_file`` into a QEMU started with ``-incoming defer -S``; it stays paused.

    Raises ``RestoreTimeout`` when the load does not complete within ``within_s`` seconds.
    """
    deadline = time.monotonic() + within_s
    try:
        qmp = await Qmp.connect(qmp_socket, wait_s=max(1.0, within_s))
    except QmpError as exc:
        raise SnapshotError(str(exc)) from exc
    try:
        await _set_ignore_shared(qmp, ignore_shared)
        uri = f"exec:cat {shlex.quote(str(state_file))}"
        await qmp.execute("migrate-incoming", {"uri": uri})
        await _wait_migration(qmp, deadline, "restoring the VM state")
    except QmpError as exc:
        raise SnapshotError(f"restoring the VM state: {exc}") from exc
    finally:
        await qmp.close()


async def resume_vcpus(qmp_socket: Path) -> None:
    """``cont``: let a restored (paused) VM run."""
    try:
        qmp = await Qmp.connect(qmp_socket)
    except QmpError as exc:
        raise SnapshotError(str(exc)) from exc
    try:
        await qmp.execute("cont")
    except QmpError as exc:
        raise SnapshotError(f"resuming the VM: {exc}") from exc
    finally:
        await qmp.close()


async def quit_vm(qmp_socket: Path) -> None:
    try:
        qmp = await Qmp.connect(qmp_socket)
    except QmpError:
        return
    try:
        await qmp.execute("quit")
    except QmpError:
        pass
    finally:
        await qmp.close()
