"""The warm pool on Hetzner Cloud: N servers booted ahead, each waiting to become a desk.

``BUREAU_HCLOUD_POOL_SIZE`` servers per size class (0, the default, turns it off; it costs money:
see ``PRICE_EUR_PER_HOUR`` and ``bureau pool status``). Each pool server is its own Pulumi stack
``pool-<slot id>`` (infra/pool.py): firewall (agent port from the control plane's addresses only),
an empty volume, and a server booted with the pool user-data (hcloud_seed.py: no desk, no user, a
single-use pool token). The server enrolls a pool identity and serves its resume endpoint over
mutual TLS (identity.py). A slot is *ready* once the control plane reached it over that TLS.

Assignment (``POST /v1/desks`` → provisioning job → ``try_assign_from_pool``), decision "rename":
1. claim a ready slot of the desk's size class whose server type and location match the desk's;
2. check it over mutual TLS (``/pool/v1/health`` says ``unassigned``, name ``pool-<slot>``);
3. run the desk program (infra/desk.py) on the pool's stack: the same logical resources, so names
   and labels change in place (``desk-id``, ``owner``, ``pooled-from=<slot>``; ``pool-slot``
   goes) and nothing is replaced (server type, image and location are the pool's);
4. rename the stack ``pool-<slot>`` → ``desk-<desk id>``: from here the desk is indistinguishable
   from one created cold (the hcloud driver stops, starts and destroys it by that name);
5. resume it: ``POST /pool/v1/resume`` over mutual TLS with the desk's settings, a single-use
   bootstrap token, the host clock, fresh random bytes and the volume's device; the agent enrolls
   (DESIGN.md §4) before it answers.
Relabelling before renaming means no crash leaves a desk's server looking like a pool server: the
pool's reconciler only ever deletes resources labelled ``pool-slot``; it also finishes a takeover a
crash cut between relabel and rename, and a re-run of the desk's provisioning job resumes a taken
over server that was never resumed (with the re-run's new bootstrap token). A failure in 2 gives the
server back to the reconciler (destroyed); a failure in 3-5 destroys the claimed resources as the
desk's (``driver.destroy``); then the desk boots cold.

Refill runs in the background (the creation of a slot counts against the size before it starts,
so the pool never exceeds it). The reconciler (at start, then every
``BUREAU_HCLOUD_POOL_RECONCILE_INTERVAL_SECONDS``) adopts pool servers whose stack it finds (a
restarted control plane), destroys those it cannot account for (no ``pool-<slot>`` stack: orphans),
those that never became ready within the boot timeout, those above the size and those of a class
no longer pooled.

Where it runs (decision): in ``bureau serve`` with its in-process workers (the default), and in one
such process only (set ``BUREAU_HCLOUD_POOL_SIZE`` on one replica): it counts its own slots, and
the pool servers' ``POST /v1/pool/enroll`` must reach the process that created them (their
user-data points at ``BUREAU_PUBLIC_URL``; with several replicas behind a load balancer, route
``/v1/pool/enroll`` to the pool's replica). ``bureau worker`` processes never start it (desks they
provision boot cold).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import hashlib
import hmac
import logging
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud_init.render import agent_env
from cloud_init.settings import AgentDist, DeskBootSettings
from infra.config import DeskInfraConfig, InfraConfigError, valid_label
from infra.desk import desk_program
from infra.pool import POOL_SLOT_LABEL, POOLED_FROM_LABEL, PoolInfraConfig, pool_program
from infra.pool import pool_stack_name as stack_of
from orchestrator.drivers.base import (
    DESK_SIZES,
    DeskHandle,
    DeskSize,
    DeskSpec,
    DriverError,
    ProgressFn,
)
from orchestrator.drivers.hcloud import HcloudDriver, stack_name
from orchestrator.pool.clone import new_resume_request
from orchestrator.pool.hcloud_seed import pool_server_user_data
from orchestrator.pool.identity import (
    PoolEnrollRequest,
    PoolEnrollResponse,
    pool_identity_name,
    pool_tls_name,
)
from orchestrator.pool.wire import ResumeResponse

log = logging.getLogger("bureau.pool.hcloud")

#: Hourly list prices (EUR, excl. VAT, Germany/Finland locations) of the server types the size
#: classes use (orchestrator.drivers.base.DESK_SIZES), as published by Hetzner in 2026 (after the
#: April 2026 price adjustment). Hetzner bills each started hour while the server EXISTS (running
#: or not), capped at the monthly price. A pool server also has a primary IPv4 (billed separately
#: on some plans) and a volume of the size class (EUR 0.044/GB/month at the time of writing).
#: The pool asks Hetzner's API (``GET /server_types``: net hourly price in the pool's location) at
#: start and at every reconcile; this table is the fallback when the API does not answer, and
#: ``BUREAU_HCLOUD_POOL_PRICES`` (``cx23=0.0064,cx33=0.0104``) overrides both.
PRICE_EUR_PER_HOUR: dict[str, float] = {
    "cx23": 0.0064,
    "cx33": 0.0104,
    "cx43": 0.0192,
}
POOL_TOKEN_PREFIX = "pt_"  # noqa: S105 - a prefix
CLIENT_TIMEOUT = 15.0
#: Pool resources without a stack are orphans only once their server is this old (an ``up`` that
#: is still running elsewhere has no outputs yet).
ORPHAN_GRACE_SECONDS = 900.0


def _younger_than(found: Any, seconds: float) -> bool:
    """Whether any server of ``found`` (a DeskInventory) was created less than ``seconds`` ago."""
    now = datetime.now(UTC)
    for server in found.servers:
        created = getattr(server, "created", None)
        if isinstance(created, str):
            with contextlib.suppress(ValueError):
                created = datetime.fromisoformat(created)
        if isinstance(created, datetime) and (now - created).total_seconds() < seconds:
            return True
    return False


class HcloudPoolSettings(BaseSettings):
    """``BUREAU_HCLOUD_POOL_*``; size 0 (the default) turns the Hetzner pool off."""

    model_config = SettingsConfigDict(env_prefix="BUREAU_HCLOUD_POOL_", extra="ignore")

    size: int = Field(default=0, ge=0, le=32)
    """Servers kept booted per size class. Each one is billed: see ``bureau pool status``."""
    size_classes: str = "small"
    boot_timeout_seconds: float = Field(default=900.0, gt=0)
    """A pool server not ready (pool identity enrolled, reached over TLS) by then is destroyed."""
    resume_timeout_seconds: float = Field(default=120.0, gt=0)
    refill_interval_seconds: float = Field(default=30.0, gt=0)
    reconcile_interval_seconds: float = Field(default=300.0, gt=0)
    location: str | None = None
    """Where pool servers are created (default ``BUREAU_HCLOUD_LOCATION``); desks asking for
    another region boot cold."""
    prices: str = ""
    """Prices to use instead of Hetzner's (read from its API) and the table: ``cx23=0.0064``."""

    def classes(self) -> list[str]:
        return [name.strip() for name in self.size_classes.split(",") if name.strip()]

    def price_overrides(self) -> dict[str, float]:
        table = {}
        for item in self.prices.split(","):
            name, _, value = item.partition("=")
            if name.strip() and value.strip():
                table[name.strip()] = float(value)
        return table


class SlotState(enum.StrEnum):
    CREATING = "creating"
    """``pulumi up`` of its stack is running."""
    BOOTING = "booting"
    """The server exists; its pool identity is not enrolled yet."""
    ENROLLED = "enrolled"
    """Pool identity enrolled; not yet reached over TLS."""
    READY = "ready"
    CLAIMED = "claimed"
    """Taken by a desk (being relabelled, renamed, resumed)."""
    FAILED = "failed"
    """To be destroyed by the reconciler."""


PREPARING = (SlotState.CREATING, SlotState.BOOTING, SlotState.ENROLLED)


@dataclass
class Slot:
    slot_id: str
    size_class: str
    server_type: str
    state: SlotState
    created_at: float
    token_sha256: str
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def ipv4(self) -> str:
        return str(self.outputs.get("ipv4") or "")

    @property
    def agent_port(self) -> int:
        return int((self.outputs.get("pool") or {}).get("agent_port", 7443))


class PoolError(Exception):
    """A pool server could not be used; the message says why (the desk then boots cold)."""


class PoolEnrollError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class PoolStats:
    assigned: int = 0
    misses: int = 0
    failures: int = 0
    created: int = 0
    destroyed: int = 0
    last_error: str = ""
    last_timings: dict[str, float] = field(default_factory=dict)


class HcloudPool:
    """The Hetzner warm pool of one control-plane process (see the module docstring)."""

    def __init__(
        self,
        driver: HcloudDriver,
        *,
        settings: HcloudPoolSettings | None = None,
        control_plane_url: str,
        control_plane_ca_pem: str,
        agent_dist: Callable[[], AgentDist],
        client_context: Callable[[], ssl.SSLContext],
        sign_csr: Callable[[str, str], str],
        desk_ca_pem: str,
    ) -> None:
        self.driver = driver
        self.settings = settings or HcloudPoolSettings()
        self.control_plane_url = control_plane_url
        self.control_plane_ca_pem = control_plane_ca_pem
        self.agent_dist = agent_dist
        self.client_context = client_context
        self.sign_csr = sign_csr
        self.desk_ca_pem = desk_ca_pem
        self.slots: dict[str, Slot] = {}
        self.stats = PoolStats()
        self._lock = threading.Lock()  # slots change from the API's threads (enrollment) too
        self._claiming = asyncio.Lock()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_reconcile: float | None = None  # reconcile first thing after start
        self._create_after = 0.0
        self._create_failures = 0
        self._ssl: ssl.SSLContext | None = None
        self.api_prices: dict[str, float] = {}
        """Net hourly prices (EUR) Hetzner's API gave for the pool's location."""

    # -- configuration ------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.settings.size > 0

    @property
    def location(self) -> str:
        return self.settings.location or self.driver.settings.location

    def server_type_of(self, size: DeskSize) -> str:
        return self.driver.settings.server_type or size.hcloud_server_type

    def _classes(self) -> list[DeskSize]:
        return [DESK_SIZES[name] for name in self.settings.classes() if name in DESK_SIZES]

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.enabled or self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="bureau-hcloud-pool")

    async def stop(self) -> None:
        """Stop the background work. Pool servers stay (they are reused after a restart)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def wake(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while True:
            try:
                if self._last_reconcile is None or time.monotonic() - self._last_reconcile >= (
                    self.settings.reconcile_interval_seconds
                ):
                    await self.reconcile()
                    await self.refresh_prices()
                await self.refill()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the pool must never take the control plane down
                self.stats.last_error = str(exc)[:500]
                log.warning("hetzner pool: %s", exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.refill_interval_seconds)

    # -- refill -------------------------------------------------------------------------------

    def _live(self, size_class: str) -> list[Slot]:
        with self._lock:
            return [
                s
                for s in self.slots.values()
                if s.size_class == size_class and s.state in (*PREPARING, SlotState.READY)
            ]

    async def refill(self) -> None:
        """Probe preparing slots, fail stale ones, destroy failed ones, create missing ones.

        A creation that fails stops this round and backs off (30 s doubling up to 10 min), so a
        quota or API error does not burn Hetzner's request budget."""
        await self.check_preparing()
        await self.destroy_failed()
        if time.monotonic() < self._create_after:
            return
        for size in self._classes():
            while len(self._live(size.name)) < self.settings.size:
                slot = await self.create_slot(size)
                if slot.state == SlotState.FAILED:
                    self._create_failures += 1
                    pause = min(600.0, 30.0 * 2 ** (self._create_failures - 1))
                    self._create_after = time.monotonic() + pause
                    return
                self._create_failures = 0

    async def create_slot(self, size: DeskSize) -> Slot:
        slot_id = "p" + secrets.token_hex(8)
        token = POOL_TOKEN_PREFIX + secrets.token_urlsafe(32)
        slot = Slot(
            slot_id=slot_id,
            size_class=size.name,
            server_type=self.server_type_of(size),
            state=SlotState.CREATING,
            created_at=time.time(),
            token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        )
        with self._lock:
            self.slots[slot_id] = slot  # counted before the (slow) up: never above the size
        try:
            dist = await asyncio.to_thread(self.agent_dist)
            config = PoolInfraConfig(
                slot_id=slot_id,
                size_class=size.name,
                user_data=pool_server_user_data(
                    slot_id=slot_id,
                    pool_token=token,
                    control_plane_url=self.control_plane_url,
                    control_plane_ca_pem=self.control_plane_ca_pem,
                    agent_dist=dist,
                    agent_port=self.driver.settings.agent_port,
                ),
                control_plane_cidrs=self.driver.control_plane_cidrs(),
                token_sha256=slot.token_sha256,
                created_at=slot.created_at,
                server_type=slot.server_type,
                image=self.driver.settings.image,
                location=self.location,
                volume_size_gib=max(size.disk_gib, 10),
                agent_port=self.driver.settings.agent_port,
            )
            del token
            report = self.driver.reporter(lambda line: log.info("pool %s: %s", slot_id, line))
            outputs = await self.driver.run(
                lambda: self.driver.engine.up(stack_of(slot_id), pool_program(config), report)
            )
        except Exception as exc:
            self._fail(slot, f"creating the pool server failed: {exc}")
            return slot
        with self._lock:
            slot.outputs = dict(outputs)
            if slot.state == SlotState.CREATING:
                slot.state = SlotState.BOOTING
        self.stats.created += 1
        await self.check_preparing()
        return slot

    def _fail(self, slot: Slot, message: str) -> None:
        with self._lock:
            slot.state = SlotState.FAILED
            slot.error = message[:500]
        self.stats.failures += 1
        self.stats.last_error = message[:500]
        log.warning("pool slot %s: %s", slot.slot_id, message)

    async def check_preparing(self) -> None:
        """Enrolled slots are probed over TLS (ready when they answer); slots past the boot
        timeout fail."""
        now = time.time()
        with self._lock:
            preparing = [s for s in self.slots.values() if s.state in PREPARING]
        for slot in preparing:
            if slot.state == SlotState.ENROLLED and slot.ipv4:
                try:
                    status = await self.health(slot)
                except PoolError as exc:
                    slot.error = str(exc)
                else:
                    if status == "unassigned":
                        with self._lock:
                            if slot.state == SlotState.ENROLLED:
                                slot.state = SlotState.READY
                        continue
                    self._fail(slot, f"the pool server says it is {status}")
                    continue
            if now - slot.created_at > self.settings.boot_timeout_seconds:
                self._fail(slot, f"not ready within {self.settings.boot_timeout_seconds:.0f}s")

    async def destroy_failed(self) -> None:
        with self._lock:
            failed = [s for s in self.slots.values() if s.state == SlotState.FAILED]
        for slot in failed:
            await self.destroy_slot(slot.slot_id)

    async def destroy_slot(self, slot_id: str) -> None:
        """Destroy a pool server's resources and stack (then sweep its label)."""
        stack = stack_of(slot_id)
        report = self.driver.reporter(lambda line: log.info("pool %s: %s", slot_id, line))
        try:
            await self.driver.run(lambda: self.driver.engine.destroy(stack, report))
            await self.driver.run(lambda: self.driver.engine.remove(stack, force=True))
        except DriverError as exc:
            log.warning("pool %s: destroy failed (%s); sweeping by label", slot_id, exc)
        await self.driver.run(
            lambda: self.driver.inventory.sweep_selector(f"{POOL_SLOT_LABEL}={slot_id}", report)
        )
        with self._lock:
            self.slots.pop(slot_id, None)
        self.stats.destroyed += 1

    async def refresh_prices(self) -> None:
        """Ask Hetzner for the hourly price of each pooled server type (best effort)."""
        for size in self._classes():
            server_type = self.server_type_of(size)
            try:
                price = await self.driver.run(
                    functools.partial(
                        self.driver.inventory.hourly_price, server_type, self.location
                    )
                )
            except DriverError as exc:
                log.info("hetzner pool: no price for %s from the API (%s)", server_type, exc)
                continue
            if price is not None:
                self.api_prices[server_type] = price

    def price_of(self, server_type: str) -> tuple[float | None, str]:
        """(EUR per hour, where it came from): settings, Hetzner's API, or the built-in table."""
        overrides = self.settings.price_overrides()
        if server_type in overrides:
            return overrides[server_type], "settings"
        if server_type in self.api_prices:
            return self.api_prices[server_type], "hetzner api"
        if server_type in PRICE_EUR_PER_HOUR:
            return PRICE_EUR_PER_HOUR[server_type], "table"
        return None, "unknown"

    # -- reconciler ---------------------------------------------------------------------------

    async def reconcile(self) -> dict[str, list[str]]:
        """Adopt pool servers whose stack exists, destroy the ones nobody accounts for, finish
        interrupted takeovers, and keep the pool within its size. Returns what it did
        (``adopted``, ``orphans``, ``finished``, ``excess``)."""
        self._last_reconcile = time.monotonic()
        done: dict[str, list[str]] = {"adopted": [], "orphans": [], "finished": [], "excess": []}
        found = await self.driver.run(lambda: self.driver.inventory.grouped_by(POOL_SLOT_LABEL))
        for slot_id in sorted(found):
            with self._lock:
                known = slot_id in self.slots
            if known:
                continue
            outputs = await self._outputs(stack_of(slot_id))
            pool = (outputs or {}).get("pool")
            if not outputs or not isinstance(pool, dict) or not outputs.get("ipv4"):
                if _younger_than(found[slot_id], ORPHAN_GRACE_SECONDS):
                    continue  # maybe another process's ``up`` still running: next time
                done["orphans"].append(slot_id)
                await self.destroy_slot(slot_id)
                continue
            slot = Slot(
                slot_id=slot_id,
                size_class=str(pool.get("size_class", "")),
                server_type=str(pool.get("server_type", "")),
                state=SlotState.BOOTING,
                created_at=float(pool.get("created_at") or 0.0),
                token_sha256=str(pool.get("token_sha256", "")),
                outputs=dict(outputs),
            )
            with self._lock:
                self.slots[slot_id] = slot
            done["adopted"].append(slot_id)
            try:  # enrolled before the restart: it answers over TLS, and its token is spent
                if await self.health(slot) == "unassigned":
                    with self._lock:
                        slot.state = SlotState.READY
                        slot.token_sha256 = ""
            except PoolError:
                pass
        with self._lock:
            for slot_id, slot in list(self.slots.items()):
                if slot_id not in found and slot.state not in (
                    SlotState.CREATING,
                    SlotState.CLAIMED,
                ):
                    self.slots.pop(slot_id)  # its resources are gone (deleted by hand?)
        done["finished"] = await self._finish_takeovers()
        wanted = {size.name: size for size in self._classes()}
        with self._lock:
            slots = list(self.slots.values())
        for slot in slots:
            size = wanted.get(slot.size_class)
            if slot.state in (SlotState.CREATING, SlotState.CLAIMED):
                continue
            if size is None or slot.server_type != self.server_type_of(size):
                done["excess"].append(slot.slot_id)
                await self.destroy_slot(slot.slot_id)
        for name in wanted:
            live = sorted(
                self._live(name), key=lambda s: (s.state == SlotState.READY, s.created_at)
            )
            while len(live) > self.settings.size:
                extra = live.pop(0)
                if extra.state == SlotState.CREATING:
                    continue
                done["excess"].append(extra.slot_id)
                await self.destroy_slot(extra.slot_id)
        return done

    async def _finish_takeovers(self) -> list[str]:
        """A takeover interrupted between its relabelling ``up`` and the stack rename (a crash)
        left a ``pool-<slot>`` stack holding resources labelled as a desk's: rename it to
        ``desk-<id>`` so the hcloud driver finds it (stop, start, delete). Slots this process is
        assigning right now are left alone."""
        found = await self.driver.run(lambda: self.driver.inventory.grouped_by(POOLED_FROM_LABEL))
        finished = []
        for slot_id, resources in sorted(found.items()):
            with self._lock:
                if slot_id in self.slots:
                    continue
            desk_ids = {
                (item.labels or {}).get("desk-id")
                for item in (*resources.servers, *resources.volumes, *resources.firewalls)
            }
            desk_ids.discard(None)
            if len(desk_ids) != 1:
                continue
            desk_id = str(desk_ids.pop())
            pool_stack = stack_of(slot_id)
            if await self._outputs(stack_name(desk_id)) is not None:
                continue
            if await self._outputs(pool_stack) is None:
                continue
            await self.driver.run(
                functools.partial(self.driver.engine.rename, pool_stack, stack_name(desk_id))
            )
            log.warning("pool: finished the interrupted takeover of %s by %s", slot_id, desk_id)
            finished.append(slot_id)
        return finished

    async def _outputs(self, stack: str) -> dict[str, Any] | None:
        return await self.driver.run(lambda: self.driver.engine.outputs(stack))

    # -- pool identity (POST /v1/pool/enroll) -------------------------------------------------

    def enroll_identity(self, request: PoolEnrollRequest) -> PoolEnrollResponse:
        """Burn the slot's pool token and sign its CSR as ``pool-<slot>`` (thread safe)."""
        offered = hashlib.sha256(request.pool_token.get_secret_value().encode()).hexdigest()
        with self._lock:
            slot = self.slots.get(request.slot_id)
            if (
                slot is None
                or slot.state not in (SlotState.CREATING, SlotState.BOOTING)
                or not slot.token_sha256
                or not hmac.compare_digest(offered, slot.token_sha256)
            ):
                raise PoolEnrollError(401, "the pool token is invalid or used")
            slot.token_sha256 = ""  # single use
            previous = slot.state
            slot.state = SlotState.ENROLLED
        try:
            certificate = self.sign_csr(request.csr_pem, pool_identity_name(request.slot_id))
        except ValueError as exc:
            with self._lock:
                slot.state = previous
            raise PoolEnrollError(422, str(exc)) from None
        self.wake()
        return PoolEnrollResponse(
            slot_id=request.slot_id, certificate_pem=certificate, ca_pem=self.desk_ca_pem
        )

    # -- talking to pool servers (mutual TLS, name pool-<slot>) -------------------------------

    def _base_url(self, slot: Slot) -> str:
        return self.driver.agent_url_for(slot.ipv4, slot.agent_port).rstrip("/")

    def _client(self, timeout: float) -> httpx.AsyncClient:
        if self._ssl is None:
            self._ssl = self.client_context()
        return httpx.AsyncClient(verify=self._ssl, timeout=timeout, follow_redirects=False)

    async def health(self, slot: Slot) -> str:
        """The pool server's ``status`` (``unassigned`` when usable), over verified mutual TLS."""
        try:
            async with self._client(CLIENT_TIMEOUT) as client:
                response = await client.get(
                    f"{self._base_url(slot)}/pool/v1/health",
                    extensions={"sni_hostname": pool_tls_name(slot.slot_id)},
                )
        except httpx.HTTPError as exc:
            raise PoolError(f"pool server {slot.slot_id} unreachable: {exc}") from None
        if response.status_code != 200:
            raise PoolError(f"pool server {slot.slot_id} health: HTTP {response.status_code}")
        try:
            return str(response.json()["status"])
        except (ValueError, KeyError, TypeError):
            raise PoolError(f"pool server {slot.slot_id}: unreadable health answer") from None

    async def _resume(self, slot: Slot, spec: DeskSpec, boot: DeskBootSettings) -> ResumeResponse:
        volume_id = str(slot.outputs.get("volume_id") or "")
        request = new_resume_request(
            desk_id=spec.desk_id,
            hostname=boot.hostname,
            agent_env=agent_env(boot),
            control_plane_ca_pem=boot.control_plane_ca_pem,
            bootstrap_token=boot.bootstrap_token,
            data_disk_device=f"/dev/disk/by-id/scsi-0HC_Volume_{volume_id}" if volume_id else None,
        )
        within = self.settings.resume_timeout_seconds
        try:
            async with self._client(within) as client:
                # The host clock is read right before sending (the agent adds its transit time).
                body = request.model_copy(update={"host_time_ns": time.time_ns()})
                response = await client.post(
                    f"{self._base_url(slot)}/pool/v1/resume",
                    content=body.model_dump_json(),
                    headers={"content-type": "application/json"},
                    extensions={"sni_hostname": pool_tls_name(slot.slot_id)},
                )
        except httpx.HTTPError as exc:
            raise PoolError(f"resume call failed: {type(exc).__name__}: {exc}") from None
        if response.status_code not in (200, 502):
            raise PoolError(f"resume refused: HTTP {response.status_code}: {response.text[:300]}")
        try:
            answer = ResumeResponse.model_validate_json(response.content)
        except ValueError:
            raise PoolError("the resume answer is not a ResumeResponse") from None
        if not answer.enrolled:
            raise PoolError(f"the pool server resumed but did not enroll: {answer.error}")
        return answer

    # -- assignment ---------------------------------------------------------------------------

    async def _claim(self, spec: DeskSpec) -> Slot | None:
        server_type = self.server_type_of(spec.size)
        async with self._claiming:
            with self._lock:
                ready = sorted(
                    (
                        s
                        for s in self.slots.values()
                        if s.state == SlotState.READY
                        and s.size_class == spec.size.name
                        and s.server_type == server_type
                        and (s.outputs.get("pool") or {}).get("location") == self.location
                    ),
                    key=lambda s: s.created_at,
                )
                if not ready:
                    return None
                ready[0].state = SlotState.CLAIMED
                return ready[0]

    def _desk_config(self, slot: Slot, spec: DeskSpec) -> DeskInfraConfig:
        pool = slot.outputs["pool"]
        extra = {
            key: value
            for key, value in spec.labels.items()
            if key not in ("managed-by", "desk-id", "owner") and valid_label(key, value)
        }
        extra[POOLED_FROM_LABEL] = slot.slot_id
        return DeskInfraConfig(
            desk_id=spec.desk_id,
            owner_id=spec.owner_id,
            # user_data is ignored on an existing server (ignore_changes); the bootstrap token
            # travels in the resume only, so none goes to Pulumi for a pooled desk.
            user_data="",
            control_plane_cidrs=self.driver.control_plane_cidrs(),
            server_type=str(pool["server_type"]),
            image=str(pool["image"]),
            location=str(pool["location"]),
            volume_size_gib=int(pool["volume_size_gib"]),
            agent_port=int(pool["agent_port"]),
            extra_labels=extra,
        )

    async def _take_over(self, slot: Slot, spec: DeskSpec, report: ProgressFn) -> dict[str, Any]:
        """Relabel the pool server's resources as the desk's, then rename its stack."""
        config = self._desk_config(slot, spec)
        pool_stack, desk_stack = stack_of(slot.slot_id), stack_name(spec.desk_id)
        outputs = await self.driver.run(
            lambda: self.driver.engine.up(pool_stack, desk_program(config), report)
        )
        await self.driver.run(lambda: self.driver.engine.rename(pool_stack, desk_stack))
        return dict(outputs)

    async def assign(
        self, spec: DeskSpec, boot: DeskBootSettings, progress: ProgressFn
    ) -> DeskHandle | None:
        """A resumed, enrolled desk on a pool server, or None (the caller boots it cold)."""
        if not self.enabled or spec.size.name not in self.settings.classes():
            return None
        if boot.ssh_authorized_keys or spec.ssh_cidrs:
            progress("pool: SSH requested, booting cold (pool servers keep SSH closed)")
            return None
        if spec.region and spec.region != self.location:
            progress(f"pool: region {spec.region} is not the pool's ({self.location}), cold boot")
            return None
        report = self.driver.reporter(progress)
        async with self.driver.desk_lock(spec.desk_id):
            existing = await self._outputs(stack_name(spec.desk_id))
            if existing is not None:  # a re-run of the provisioning job after a crash
                return await self._resume_again(existing, spec, boot, report)
            slot = await self._claim(spec)
            self.wake()  # refill starts now
            if slot is None:
                self.stats.misses += 1
                progress("pool: no ready Hetzner pool server, booting cold")
                return None
            started = time.perf_counter()
            try:
                status = await self.health(slot)
                if status != "unassigned":
                    raise PoolError(f"pool server {slot.slot_id} is {status}")
            except PoolError as exc:
                self._fail(slot, str(exc))
                progress(f"pool: {exc}; booting cold")
                return None
            report(f"pool: taking over pool server {slot.slot_id} ({slot.ipv4})")
            try:
                outputs = await self._take_over(slot, spec, report)
                took_over_ms = (time.perf_counter() - started) * 1000
                answer = await self._resume(slot, spec, boot)
            except (DriverError, PoolError, InfraConfigError, KeyError) as exc:
                self.stats.failures += 1
                self.stats.last_error = str(exc)[:500]
                with self._lock:
                    self.slots.pop(slot.slot_id, None)
                report(f"pool: {exc}; removing the claimed server and booting cold")
                await self._discard_claimed(slot, spec, report)
                return None
        with self._lock:
            self.slots.pop(slot.slot_id, None)
        total_ms = (time.perf_counter() - started) * 1000
        self.stats.assigned += 1
        self.stats.last_timings = {
            "takeover_ms": took_over_ms,
            "resume_ms": total_ms - took_over_ms,
            "total_ms": total_ms,
            **{f"guest_{s.name}_ms": s.ms for s in answer.steps},
        }
        report(
            f"pool: pool server {slot.slot_id} resumed and enrolled in {total_ms:.0f} ms "
            f"(takeover {took_over_ms:.0f} ms)"
        )
        return self._handle(
            spec,
            slot,
            outputs,
            ipv4=str(outputs.get("ipv4") or slot.ipv4),
            location=str(slot.outputs["pool"]["location"]),
            pool_total_ms=f"{total_ms:.0f}",
        )

    def _handle(
        self,
        spec: DeskSpec,
        slot: Slot,
        outputs: dict[str, Any],
        *,
        ipv4: str,
        location: str,
        **extra: str,
    ) -> DeskHandle:
        """The desk's handle on the server it took over (the same details as a cold desk's)."""
        return DeskHandle(
            desk_id=spec.desk_id,
            driver=self.driver.name,
            agent_url=self.driver.agent_url_for(ipv4, slot.agent_port),
            details={
                "server_id": str(outputs.get("server_id", "")),
                "volume_id": str(outputs.get("volume_id", "")),
                "ipv4": ipv4,
                "ipv6": str(outputs.get("ipv6") or ""),
                "location": location,
                "server_type": slot.server_type,
                "pool_slot": slot.slot_id,
                **extra,
            },
        )

    async def _resume_again(
        self, outputs: dict[str, Any], spec: DeskSpec, boot: DeskBootSettings, report: ProgressFn
    ) -> DeskHandle | None:
        """The desk's stack exists already. If it took over a pool server that was never
        resumed (the control plane died in between), resume it now with this run's bootstrap
        token; otherwise None (the driver's idempotent ``create`` handles the desk)."""
        desk = outputs.get("desk") or {}
        slot_id = (desk.get("extra_labels") or {}).get(POOLED_FROM_LABEL)
        if not slot_id or not outputs.get("ipv4"):
            return None
        slot = Slot(
            slot_id=str(slot_id),
            size_class=spec.size.name,
            server_type=str(desk.get("server_type", "")),
            state=SlotState.CLAIMED,
            created_at=time.time(),
            token_sha256="",
            outputs={**outputs, "pool": {**desk, "agent_port": desk.get("agent_port", 7443)}},
        )
        try:
            if await self.health(slot) != "unassigned":
                return None  # resumed before the crash (or not a pool server any more)
            report(f"pool: resuming pool server {slot_id}, taken over before a restart")
            await self._resume(slot, spec, boot)
        except PoolError as exc:
            report(f"pool: {exc}")
            return None
        self.stats.assigned += 1
        return self._handle(
            spec,
            slot,
            outputs,
            ipv4=str(outputs["ipv4"]),
            location=str(desk.get("location", "")),
        )

    async def _discard_claimed(self, slot: Slot, spec: DeskSpec, report: ProgressFn) -> None:
        """After a failed takeover or resume: whatever the claimed server became goes."""
        with contextlib.suppress(DriverError):
            if await self._outputs(stack_of(slot.slot_id)):
                await self.destroy_slot(slot.slot_id)
        with contextlib.suppress(DriverError):
            desk_stack = stack_name(spec.desk_id)
            await self.driver.run(lambda: self.driver.engine.destroy(desk_stack, report))
            await self.driver.run(lambda: self.driver.engine.remove(desk_stack, force=True))
            await self.driver.run(
                lambda: self.driver.inventory.sweep_selector(
                    f"{POOLED_FROM_LABEL}={slot.slot_id}", report
                )
            )

    # -- status -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._lock:
            slots = list(self.slots.values())
        pools = []
        for size in self._classes():
            mine = [s for s in slots if s.size_class == size.name]
            server_type = self.server_type_of(size)
            price, source = self.price_of(server_type)
            pools.append(
                {
                    "driver": "hcloud",
                    "size_class": size.name,
                    "target": self.settings.size,
                    "ready": sum(s.state == SlotState.READY for s in mine),
                    "preparing": sum(s.state in PREPARING for s in mine),
                    "assigning": sum(s.state == SlotState.CLAIMED for s in mine),
                    "failed": sum(s.state == SlotState.FAILED for s in mine),
                    "template": None,
                    "memory_budget_mib": None,
                    "server_type": server_type,
                    "location": self.location,
                    "price_eur_per_hour": price,
                    "price_source": source,
                    "cost_eur_per_hour": (
                        round(price * self.settings.size, 4) if price is not None else None
                    ),
                }
            )
        return {
            "driver": "hcloud",
            "enabled": self.enabled,
            "pools": pools,
            "assigned": self.stats.assigned,
            "misses": self.stats.misses,
            "failures": self.stats.failures,
            "last_error": self.stats.last_error,
            "last_timings": self.stats.last_timings,
        }
