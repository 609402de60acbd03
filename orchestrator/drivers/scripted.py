"""The scripted driver: a test double implementing the driver protocol (Coder's echo provisioner).

It creates no machine. It records every call, answers instantly or after a delay, fails on demand
with transient or permanent errors, can hold an operation until a test releases it, and points
handles at whatever agent URL the test serves (a test agent server on loopback).

Environment (for ``bureau serve`` with ``BUREAU_DRIVER=scripted`` and the benchmark):
``BUREAU_SCRIPTED_DELAY`` (seconds per operation, default 0),
``BUREAU_SCRIPTED_AGENT_URL`` (default ``https://127.0.0.1:7443``),
``BUREAU_SCRIPTED_FAIL_CREATE`` (``transient`` or ``permanent``: every create fails that way).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.drivers.base import (
    AGENT_PORT,
    DeskHandle,
    DeskSpec,
    DriverError,
    MachineState,
    ManagedMachine,
    PermanentDriverError,
    ProgressFn,
    TransientDriverError,
)


@dataclass(frozen=True)
class Call:
    """One recorded driver call."""

    op: str
    desk_id: str
    spec: DeskSpec | None = None


@dataclass
class ScriptedDriver:
    """Implements ``Driver``; every behaviour is scriptable from tests (thread safe)."""

    name: str = "scripted"
    delay: float = 0.0
    agent_url: str | Callable[[str], str] = f"https://127.0.0.1:{AGENT_PORT}"
    calls: list[Call] = field(default_factory=list)
    machines: dict[str, MachineState] = field(default_factory=dict)
    _failures: dict[str, list[DriverError]] = field(default_factory=dict)
    _gates: dict[str, threading.Event] = field(default_factory=dict)
    _always_fail: dict[str, DriverError] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- scripting -------------------------------------------------------------------------
    def fail_next(self, op: str, error: DriverError, times: int = 1) -> None:
        """The next ``times`` calls of ``op`` raise ``error``."""
        with self._lock:
            self._failures.setdefault(op, []).extend([error] * times)

    def fail_always(self, op: str, error: DriverError | None) -> None:
        """Every call of ``op`` raises ``error`` (``None`` clears it)."""
        with self._lock:
            if error is None:
                self._always_fail.pop(op, None)
            else:
                self._always_fail[op] = error

    def hold(self, op: str) -> threading.Event:
        """Calls of ``op`` wait until the returned event is set (to test work in flight)."""
        with self._lock:
            gate = self._gates.setdefault(op, threading.Event())
            gate.clear()
            return gate

    def release(self, op: str) -> None:
        with self._lock:
            gate = self._gates.pop(op, None)
        if gate is not None:
            gate.set()

    def ops(self, desk_id: str | None = None) -> list[str]:
        with self._lock:
            return [c.op for c in self.calls if desk_id is None or c.desk_id == desk_id]

    # --- protocol --------------------------------------------------------------------------
    async def _enter(self, op: str, desk_id: str, spec: DeskSpec | None = None) -> None:
        with self._lock:
            self.calls.append(Call(op, desk_id, spec))
            gate = self._gates.get(op)
        while gate is not None and not gate.is_set():  # noqa: ASYNC110 (cancellable)
            await asyncio.sleep(0.01)
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            queued = self._failures.get(op)
            error = queued.pop(0) if queued else self._always_fail.get(op)
        if error is not None:
            raise error

    def _handle(self, desk_id: str) -> DeskHandle:
        url = self.agent_url(desk_id) if callable(self.agent_url) else self.agent_url
        return DeskHandle(desk_id=desk_id, driver=self.name, agent_url=url, details={"fake": "1"})

    async def create(self, spec: DeskSpec, progress: ProgressFn) -> DeskHandle:
        await self._enter("create", spec.desk_id, spec)
        progress("scripted machine created")
        with self._lock:
            self.machines[spec.desk_id] = MachineState.RUNNING
        return self._handle(spec.desk_id)

    async def start(self, spec: DeskSpec, progress: ProgressFn) -> DeskHandle:
        await self._enter("start", spec.desk_id, spec)
        with self._lock:
            self.machines[spec.desk_id] = MachineState.RUNNING
        return self._handle(spec.desk_id)

    async def stop(self, desk_id: str, progress: ProgressFn) -> None:
        await self._enter("stop", desk_id)
        with self._lock:
            if desk_id in self.machines:
                self.machines[desk_id] = MachineState.STOPPED

    async def destroy(self, desk_id: str, progress: ProgressFn) -> None:
        await self._enter("destroy", desk_id)
        with self._lock:
            self.machines.pop(desk_id, None)

    async def status(self, desk_id: str) -> MachineState:
        with self._lock:
            return self.machines.get(desk_id, MachineState.MISSING)

    async def list_managed(self) -> list[ManagedMachine]:
        with self._lock:
            items = list(self.machines.items())
        return [
            ManagedMachine(
                desk_id, state, self._handle(desk_id) if state is MachineState.RUNNING else None
            )
            for desk_id, state in items
        ]

    async def console_excerpt(self, desk_id: str, max_bytes: int = 4096) -> str:
        return f"[scripted console of {desk_id}]"[:max_bytes]


def create_driver(data_dir: Path) -> ScriptedDriver:
    """Plugin entry point (see orchestrator/drivers/factory.py)."""
    driver = ScriptedDriver(
        delay=float(os.environ.get("BUREAU_SCRIPTED_DELAY", "0") or 0),
        agent_url=os.environ.get("BUREAU_SCRIPTED_AGENT_URL", f"https://127.0.0.1:{AGENT_PORT}"),
    )
    mode = os.environ.get("BUREAU_SCRIPTED_FAIL_CREATE", "")
    if mode == "transient":
        driver.fail_always("create", TransientDriverError("scripted transient failure"))
    elif mode == "permanent":
        driver.fail_always("create", PermanentDriverError("scripted permanent failure"))
    return driver
