"""The driver protocol: the one narrow seam between the control plane and a compute engine.

A driver owns the machines; the control plane owns desks, jobs and events. The control plane calls
a driver only from job workers, one operation per desk at a time, and translates nothing: a driver
raises only the errors below (it translates its SDK's or subprocess's errors at its own edge).

- ``TransientDriverError``: worth retrying with backoff (rate limit, timeout, a busy host).
- ``PermanentDriverError``: retrying will not help (bad image, quota, invalid spec); the desk fails
  with the error's message as its ``reason``, which must say what the operator or user can do next.

Every operation is idempotent: ``create`` of a desk that already has a machine returns its handle,
``destroy`` of a desk with nothing left returns normally. The spec never carries a provider key:
secrets reach the VM only through enrollment (DESIGN.md §4).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

#: The TCP port the agent listens on inside a desk VM (TLS, mutual TLS for the control plane).
AGENT_PORT = 7443


class DriverError(Exception):
    """Root of the errors a driver may raise."""


class TransientDriverError(DriverError):
    """The operation may succeed if retried later (with backoff)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDriverError(DriverError):
    """The operation cannot succeed as asked; the message says what to do next."""


@dataclass(frozen=True)
class DeskSize:
    """A size class: resources of a desk VM, and the Hetzner server type that matches it."""

    name: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    hcloud_server_type: str


DESK_SIZES: Mapping[str, DeskSize] = {
    "small": DeskSize("small", vcpus=1, memory_mib=1024, disk_gib=10, hcloud_server_type="cx23"),
    "medium": DeskSize("medium", vcpus=2, memory_mib=2048, disk_gib=20, hcloud_server_type="cx33"),
    "large": DeskSize("large", vcpus=4, memory_mib=4096, disk_gib=40, hcloud_server_type="cx43"),
}
DEFAULT_SIZE = "small"


@dataclass(frozen=True)
class DeskSpec:
    """What a driver needs to build a desk's machine. Contains no secret of the user's."""

    desk_id: str
    owner_id: str
    name: str
    size: DeskSize
    user_data: str
    """Rendered ``#cloud-config`` (cloud_init.render_desk); may be gzip+base64 when large."""
    user_data_gzipped: bool = False
    region: str | None = None
    ssh_cidrs: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


class MachineState(enum.StrEnum):
    RUNNING = "running"
    STARTING = "starting"
    STOPPED = "stopped"
    MISSING = "missing"
    """The driver holds nothing for this desk (never created, destroyed, or vanished)."""


@dataclass(frozen=True)
class DeskHandle:
    """Where the control plane reaches a desk's agent once the machine runs."""

    desk_id: str
    driver: str
    agent_url: str
    """``https://host:port`` of the agent as seen from the control plane."""
    details: Mapping[str, str] = field(default_factory=dict)
    """Driver-specific facts worth showing (server id, ipv4, accelerator, pid...). No secrets."""


@dataclass(frozen=True)
class ManagedMachine:
    """One machine the driver manages, as found by ``list_managed`` (the reconciler's input)."""

    desk_id: str
    state: MachineState
    handle: DeskHandle | None = None


#: Progress callback: drivers report long steps ("booting with TCG", Pulumi events) through it.
#: The control plane turns these into desk events after passing them through the redaction filter.
ProgressFn = Callable[[str], None]


@runtime_checkable
class Driver(Protocol):
    """A compute engine for desks. Implementations: qemu.py (this host), hcloud.py (Hetzner)."""

    name: str

    async def create(self, spec: DeskSpec, progress: ProgressFn) -> DeskHandle:
        """Create and boot the desk's machine and its persistent data disk; return its handle."""
        ...

    async def start(self, spec: DeskSpec, progress: ProgressFn) -> DeskHandle:
        """Boot a stopped desk again, keeping its data disk; return the (possibly new) handle."""
        ...

    async def stop(self, desk_id: str, progress: ProgressFn) -> None:
        """Stop the machine; the data disk (home, agent state, memory) survives."""
        ...

    async def destroy(self, desk_id: str, progress: ProgressFn) -> None:
        """Remove every resource of the desk, data disk included. Idempotent."""
        ...

    async def status(self, desk_id: str) -> MachineState:
        """The machine's state as the engine sees it now."""
        ...

    async def list_managed(self) -> list[ManagedMachine]:
        """Every machine this driver manages for Bureau, whatever the database says."""
        ...

    async def console_excerpt(self, desk_id: str, max_bytes: int = 4096) -> str:
        """The tail of the machine's console log, for failure reports ("" when unavailable)."""
        ...
