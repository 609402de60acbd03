"""The hcloud driver: desks on Hetzner Cloud, one Pulumi stack per desk (``desk-<id>``).

- create/start: ``up`` of the infra/ program with the server enabled (a new server attaches the
  desk's volume). stop: ``up`` with ``server_enabled=False`` — Hetzner bills stopped servers, so
  the server goes and the volume (home, agent state, memory) stays. destroy: Pulumi ``destroy``,
  stack removal, then a sweep by label of anything left (state lost, half-created resources).
- status / list_managed read Hetzner's API directly (label ``managed-by=bureau``): the truth the
  reconciler compares with the database.
- Pulumi runs in a thread (``asyncio.to_thread``), one operation per desk at a time (a lock per
  desk) and at most ``max_concurrent_operations`` at once (Hetzner's API budget: 3,600 req/h).
- A stack left with pending operations by an interrupted run is refreshed with
  ``clear_pending_creates`` and the operation retried once.

Environment (prefix ``BUREAU_HCLOUD_``): ``TOKEN`` (or ``HCLOUD_TOKEN``), ``PULUMI_PASSPHRASE``
(or ``PULUMI_CONFIG_PASSPHRASE``), ``CONTROL_PLANE_CIDRS`` (comma-separated: the control plane's
egress addresses, the only sources allowed to reach the agent port), ``BACKEND_URL`` (default
``file://<data dir>/pulumi``; ``s3://bucket?endpoint=fsn1.your-objectstorage.com&region=fsn1``
for Hetzner Object Storage with ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``), ``WORK_DIR``,
``LOCATION`` (nbg1), ``IMAGE`` (debian-12), ``SERVER_TYPE`` (overrides the size's type),
``API_ENDPOINT``, ``PLUGIN_VERSION``, ``MAX_CONCURRENT_OPERATIONS``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from infra.config import DeskInfraConfig, InfraConfigError, valid_label
from infra.desk import desk_program
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
from orchestrator.drivers.hcloud_inventory import DeskInventory, Inventory, make_client
from orchestrator.drivers.pulumi_engine import AutomationEngine, PendingOperationsError, StackEngine
from orchestrator.redaction import redact

_T = TypeVar("_T")
logger = logging.getLogger("bureau.drivers.hcloud")

#: The desk's data disk as the guest sees it (the only volume attached to the server).
HCLOUD_DATA_DISK = "/dev/disk/by-id/scsi-0HC_Volume_*"

_SERVER_STATES = {
    "running": MachineState.RUNNING,
    "initializing": MachineState.STARTING,
    "starting": MachineState.STARTING,
    "rebuilding": MachineState.STARTING,
    "migrating": MachineState.STARTING,
    "off": MachineState.STOPPED,
    "stopping": MachineState.STOPPED,
    "deleting": MachineState.STOPPED,
    "unknown": MachineState.STARTING,
}


def _plugin_version() -> str:
    from importlib.metadata import version

    return version("pulumi_hcloud")


class HcloudSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BUREAU_HCLOUD_", extra="ignore", populate_by_name=True
    )

    token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("BUREAU_HCLOUD_TOKEN", "HCLOUD_TOKEN")
    )
    pulumi_passphrase: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "BUREAU_HCLOUD_PULUMI_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE"
        ),
    )
    control_plane_cidrs: Annotated[tuple[str, ...], NoDecode] = ()
    backend_url: str | None = None
    work_dir: Path | None = None
    location: str = "nbg1"
    image: str = "debian-12"
    server_type: str | None = None
    api_endpoint: str = "https://api.hetzner.cloud/v1"
    plugin_version: str = Field(default_factory=_plugin_version)
    agent_port: int = AGENT_PORT
    max_concurrent_operations: int = Field(default=4, ge=1, le=64)

    @field_validator("control_plane_cidrs", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


def stack_name(desk_id: str) -> str:
    return f"desk-{desk_id}"


def https_url(ipv4: str, port: int) -> str:
    """The agent's URL on a server's public IPv4 (the default ``HcloudDriver.agent_url_for``)."""
    return f"https://{ipv4}:{port}"


@dataclass
class HcloudDriver:
    """Implements ``Driver`` on Hetzner Cloud (see the module docstring)."""

    settings: HcloudSettings
    engine: StackEngine
    inventory: Inventory
    name: str = "hcloud"
    #: Data disk path to render into user-data (DeskBootSettings.data_disk_device).
    guest_data_disk_device: str = HCLOUD_DATA_DISK
    agent_url_for: Callable[[str, int], str] = https_url
    """(server IPv4, agent port) -> the agent's base URL (tests map it to loopback)."""
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _slots: asyncio.Semaphore | None = None

    # --- Driver protocol -------------------------------------------------------------------

    async def create(self, spec: DeskSpec, progress: ProgressFn) -> DeskHandle:
        return await self._bring_up(spec, progress)

    async def start(self, spec: DeskSpec, progress: ProgressFn) -> DeskHandle:
        return await self._bring_up(spec, progress)

    async def stop(self, desk_id: str, progress: ProgressFn) -> None:
        report = self._reporter(progress)
        async with self._desk(desk_id):
            stack = stack_name(desk_id)
            outputs = await self._run(lambda: self.engine.outputs(stack))
            if not outputs or "desk" not in outputs:
                # No successful run recorded its settings (e.g. create failed half-way): delete
                # servers by label so nothing keeps billing, and let Pulumi adopt that.
                deleted = await self._run(lambda: self.inventory.delete_servers(desk_id, report))
                report(f"stop: no usable stack outputs; deleted {deleted} server(s) by label")
                if outputs is not None:
                    await self._run(lambda: self.engine.refresh(stack, report))
                return
            config = self._config_from_outputs(outputs)
            report("stopping: deleting the server, keeping the volume")
            await self._up(desk_id, config, report)

    async def destroy(self, desk_id: str, progress: ProgressFn) -> None:
        report = self._reporter(progress)
        stack = stack_name(desk_id)
        async with self._desk(desk_id):
            report("destroying the desk's resources")
            try:
                await self._with_recovery(
                    desk_id, report, lambda: self.engine.destroy(stack, report)
                )
            except PermanentDriverError as exc:
                # Delete must always end with nothing left: when Pulumi cannot destroy (broken
                # state), delete by label and drop the stack's state.
                report(f"pulumi destroy failed ({exc}); deleting by label instead")
                await self._run(lambda: self.inventory.sweep(desk_id, report))
                await self._run(lambda: self.engine.remove(stack, force=True))
                return
            await self._run(lambda: self.engine.remove(stack))
            swept = await self._run(lambda: self.inventory.sweep(desk_id, report))
            if swept:
                report(f"swept {swept} leftover resource(s) by label")

    async def status(self, desk_id: str) -> MachineState:
        found = await self._run(lambda: self.inventory.of_desk(desk_id))
        return self._state_of(found)

    async def list_managed(self) -> list[ManagedMachine]:
        desks = await self._run(self.inventory.managed)
        return [
            ManagedMachine(desk_id, self._state_of(found), self._handle_from_server(found))
            for desk_id, found in sorted(desks.items())
        ]

    async def console_excerpt(self, desk_id: str, max_bytes: int = 4096) -> str:
        """Hetzner offers no console log through its API (only an interactive VNC console)."""
        return ""

    # --- internals -------------------------------------------------------------------------

    async def _bring_up(self, spec: DeskSpec, progress: ProgressFn) -> DeskHandle:
        report = self._reporter(progress)
        config = self._config_from_spec(spec)
        async with self._desk(spec.desk_id):
            report(
                f"pulumi up: {config.server_type} {config.image} in {config.location}, "
                f"{config.volume_size_gib} GB volume"
            )
            outputs = await self._up(spec.desk_id, config, report)
            await self._run(lambda: self.inventory.power_on_if_off(spec.desk_id, report))
        ipv4 = str(outputs.get("ipv4") or "")
        if not ipv4:
            raise PermanentDriverError(f"desk {spec.desk_id}: the server has no public IPv4")
        return DeskHandle(
            desk_id=spec.desk_id,
            driver=self.name,
            agent_url=self.agent_url_for(ipv4, config.agent_port),
            details={
                "server_id": str(outputs.get("server_id", "")),
                "volume_id": str(outputs.get("volume_id", "")),
                "ipv4": ipv4,
                "ipv6": str(outputs.get("ipv6") or ""),
                "location": config.location,
                "server_type": config.server_type,
            },
        )

    async def _up(
        self, desk_id: str, config: DeskInfraConfig, report: ProgressFn
    ) -> dict[str, Any]:
        program = desk_program(config)
        stack = stack_name(desk_id)
        return await self._with_recovery(
            desk_id, report, lambda: self.engine.up(stack, program, report)
        )

    async def _with_recovery(
        self, desk_id: str, report: ProgressFn, operation: Callable[[], _T]
    ) -> _T:
        """Run ``operation``; after an interrupted run's pending operations, refresh with
        ``clear_pending_creates`` and try once more."""
        try:
            return await self._run(operation)
        except PendingOperationsError:
            report("recovering: refreshing the stack to clear an interrupted run")
            await self._run(lambda: self.engine.refresh(stack_name(desk_id), report))
            return await self._run(operation)

    def _config_from_spec(self, spec: DeskSpec) -> DeskInfraConfig:
        # Extra labels are informative: ones Hetzner would refuse are dropped, not fatal.
        extra = {
            key: value
            for key, value in spec.labels.items()
            if key not in ("managed-by", "desk-id", "owner") and valid_label(key, value)
        }
        try:
            return DeskInfraConfig(
                desk_id=spec.desk_id,
                owner_id=spec.owner_id,
                user_data=spec.user_data,
                control_plane_cidrs=self._control_plane_cidrs(),
                server_type=self.settings.server_type or spec.size.hcloud_server_type,
                image=self.settings.image,
                location=spec.region or self.settings.location,
                volume_size_gib=max(spec.size.disk_gib, 10),
                agent_port=self.settings.agent_port,
                ssh_cidrs=spec.ssh_cidrs,
                extra_labels=extra,
            )
        except InfraConfigError as exc:
            raise PermanentDriverError(f"desk {spec.desk_id}: {exc}") from None

    def _config_from_outputs(self, outputs: dict[str, Any]) -> DeskInfraConfig:
        try:
            return DeskInfraConfig.from_public_settings(
                outputs["desk"],
                user_data="",
                server_enabled=False,
                control_plane_cidrs=self._control_plane_cidrs(),
            )
        except (InfraConfigError, KeyError, TypeError, ValueError) as exc:
            raise PermanentDriverError(
                f"the stack's exported settings are unusable: {exc}"
            ) from None

    def _control_plane_cidrs(self) -> tuple[str, ...]:
        if not self.settings.control_plane_cidrs:
            raise PermanentDriverError(
                "BUREAU_HCLOUD_CONTROL_PLANE_CIDRS is empty: set it to the control plane's public "
                "egress addresses (the only sources the desk firewall lets reach the agent)"
            )
        return self.settings.control_plane_cidrs

    def _state_of(self, found: DeskInventory) -> MachineState:
        if found.servers:
            status = str(found.servers[0].status or "unknown")
            return _SERVER_STATES.get(status, MachineState.STARTING)
        return MachineState.MISSING if found.empty else MachineState.STOPPED

    def _handle_from_server(self, found: DeskInventory) -> DeskHandle | None:
        if not found.servers:
            return None
        server = found.servers[0]
        net = server.public_net
        ipv4 = net.ipv4.ip if net is not None and net.ipv4 is not None else ""
        if not ipv4:
            return None
        return DeskHandle(
            desk_id=found.desk_id,
            driver=self.name,
            agent_url=self.agent_url_for(ipv4, self.settings.agent_port),
            details={"server_id": str(server.id), "ipv4": ipv4},
        )

    def _desk(self, desk_id: str) -> asyncio.Lock:
        return self._locks.setdefault(desk_id, asyncio.Lock())

    def desk_lock(self, desk_id: str) -> asyncio.Lock:
        """The lock that serialises operations on one desk (the warm pool takes it too)."""
        return self._desk(desk_id)

    async def run(self, fn: Callable[[], _T]) -> _T:
        """Run a blocking engine/inventory call within the driver's concurrency cap, its errors
        scrubbed of secrets (for the warm pool, orchestrator/pool/hcloud.py)."""
        return await self._run(fn)

    def control_plane_cidrs(self) -> tuple[str, ...]:
        return self._control_plane_cidrs()

    def reporter(self, progress: ProgressFn) -> ProgressFn:
        return self._reporter(progress)

    async def _run(self, fn: Callable[[], _T]) -> _T:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.max_concurrent_operations)
        async with self._slots:
            try:
                return await asyncio.to_thread(fn)
            except DriverError as exc:
                raise self._scrubbed(exc) from None

    def _scrubbed(self, exc: DriverError) -> DriverError:
        """The same error with secrets and key-shaped strings removed from its message (it
        becomes the desk's ``reason``)."""
        message = redact(str(exc), self._secrets())
        if message == str(exc):
            return exc
        if isinstance(exc, TransientDriverError):
            return type(exc)(message, retry_after=exc.retry_after)
        return type(exc)(message)

    def _secrets(self) -> list[str]:
        return [
            value.get_secret_value()
            for value in (self.settings.token, self.settings.pulumi_passphrase)
            if value is not None
        ]

    def _reporter(self, progress: ProgressFn) -> ProgressFn:
        """Progress lines pass the redaction filter here too (defence in depth: Pulumi and
        Hetzner messages are foreign text)."""
        secrets = self._secrets()

        def report(line: str) -> None:
            clean = redact(line, secrets)[:2000]
            logger.info("%s", clean)
            progress(clean)

        return report


def create_driver(data_dir: Path) -> HcloudDriver:
    """The driver factory's entry point: settings from ``BUREAU_HCLOUD_*``, state under
    ``data_dir``. The Pulumi CLI and the hcloud plugin are checked before the first operation."""
    from orchestrator.drivers.factory import DriverUnavailableError

    settings = HcloudSettings()
    if settings.token is None:
        raise DriverUnavailableError(
            "the hcloud driver needs BUREAU_HCLOUD_TOKEN (or HCLOUD_TOKEN)"
        )
    if settings.pulumi_passphrase is None:
        raise DriverUnavailableError(
            "the hcloud driver needs BUREAU_HCLOUD_PULUMI_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE)"
            " to encrypt the secrets in Pulumi state"
        )
    if not settings.control_plane_cidrs:
        raise DriverUnavailableError(
            "the hcloud driver needs BUREAU_HCLOUD_CONTROL_PLANE_CIDRS (the control plane's "
            "public addresses, comma-separated)"
        )
    return build_driver(settings, data_dir)


def build_driver(settings: HcloudSettings, data_dir: Path) -> HcloudDriver:
    assert settings.token is not None and settings.pulumi_passphrase is not None
    token = settings.token.get_secret_value()
    engine = AutomationEngine(
        backend_url=settings.backend_url or f"file://{data_dir / 'pulumi'}",
        passphrase=settings.pulumi_passphrase,
        work_dir=settings.work_dir or data_dir / "pulumi-work",
        plugin_version=settings.plugin_version,
        env={"HCLOUD_TOKEN": token, "HCLOUD_ENDPOINT": settings.api_endpoint},
    )
    return HcloudDriver(
        settings=settings,
        engine=engine,
        inventory=Inventory(make_client(token, settings.api_endpoint)),
    )


__all__ = [
    "HCLOUD_DATA_DISK",
    "HcloudDriver",
    "HcloudSettings",
    "build_driver",
    "create_driver",
    "stack_name",
]
