"""What each job kind does to a desk. One function per kind; the worker runs them.

A handler raises ``JobAbort`` when the desk moved on without it (deleted, stopped): the job ends
quietly. Driver errors propagate to the worker, which fails the desk with the error's message.
Transient driver errors are retried here with exponential backoff (tenacity) first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import update
from sqlmodel import col
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from cloud_init.render import render_desk
from cloud_init.settings import AgentBootConfig, DeskBootSettings
from orchestrator.agent_client import AgentUnreachable
from orchestrator.drivers.base import (
    DESK_SIZES,
    DeskHandle,
    DeskSpec,
    ProgressFn,
    TransientDriverError,
)
from orchestrator.jobs import queue
from orchestrator.lifecycle import IllegalTransition, progress, transition
from orchestrator.models import BootstrapToken, Desk, DeskState, Job, utcnow
from orchestrator.protocol import ProviderCredentials, ProviderUpdate
from orchestrator.redaction import redact
from orchestrator.runtime import Runtime
from orchestrator.security import BOOTSTRAP_TOKEN_PREFIX, hash_token, new_token

S = DeskState
T = TypeVar("T")
log = logging.getLogger("orchestrator.jobs")


class JobAbort(Exception):
    """The desk is no longer in a state this job applies to; end the job without error."""


class RetryLater(Exception):
    """Re-queue this job after ``delay`` seconds without counting an attempt."""

    def __init__(self, delay: float, note: str) -> None:
        super().__init__(note)
        self.delay = delay


Handler = Callable[[Runtime, Job], Coroutine[Any, Any, None]]


# --- helpers ---------------------------------------------------------------------------------
async def load(rt: Runtime, desk_id: str) -> Desk:
    """The desk as stored now (database work runs off the event loop, like every helper here)."""
    return await asyncio.to_thread(load_now, rt, desk_id)


async def move(
    rt: Runtime,
    desk_id: str,
    target: DeskState,
    message: str,
    *,
    expect: tuple[DeskState, ...],
    handle: DeskHandle | None = None,
) -> Desk:
    return await asyncio.to_thread(
        lambda: move_now(rt, desk_id, target, message, expect=expect, handle=handle)
    )


def load_now(rt: Runtime, desk_id: str) -> Desk:
    with rt.db.read_session() as session:
        desk = session.get(Desk, desk_id)
    if desk is None:
        raise JobAbort(f"desk {desk_id} does not exist")
    return desk


def move_now(
    rt: Runtime,
    desk_id: str,
    target: DeskState,
    message: str,
    *,
    expect: tuple[DeskState, ...],
    handle: DeskHandle | None = None,
) -> Desk:
    """Transition if the desk is in one of ``expect``; otherwise abort the job."""
    with rt.db.session() as session:
        desk = session.get(Desk, desk_id)
        if desk is None or DeskState(desk.state) not in expect:
            session.rollback()
            state = desk.state if desk else "missing"
            raise JobAbort(f"desk {desk_id} is {state}, not {'/'.join(expect)}")
        if handle is not None:
            save_handle(desk, handle)
        try:
            transition(session, desk, target, message)
        except IllegalTransition as exc:
            session.rollback()
            raise JobAbort(str(exc)) from None
        session.commit()
    rt.notifier.notify()
    return desk


def save_handle(desk: Desk, handle: DeskHandle) -> None:
    desk.agent_url = handle.agent_url
    desk.details = {**desk.details, **{str(k): str(v) for k, v in handle.details.items()}}
    desk.updated_at = utcnow()


def progress_fn(rt: Runtime, desk_id: str) -> ProgressFn:
    """The driver's progress callback: redacted, stored as a ``progress`` event."""

    def report(message: str) -> None:
        text = redact(str(message), rt.escrow.values())[:2000]
        with rt.db.session() as session:
            desk = session.get(Desk, desk_id)
            if desk is not None:
                progress(session, desk, text)
                session.commit()
        rt.notifier.notify()

    return report


def _wait(rt: Runtime) -> Callable[[RetryCallState], float]:
    exponential = wait_exponential(multiplier=rt.settings.driver_retry_base_seconds, max=60)

    def wait(state: RetryCallState) -> float:
        delay = exponential(state)
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, TransientDriverError) and error.retry_after:
            delay = max(delay, min(error.retry_after, 300.0))
        return float(delay)

    return wait


async def with_retries(rt: Runtime, desk_id: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run a driver call, retrying transient errors with exponential backoff."""
    report = progress_fn(rt, desk_id)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        report(f"transient driver error, retrying (attempt {state.attempt_number}): {error}")

    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(TransientDriverError),
        wait=_wait(rt),
        stop=stop_after_attempt(rt.settings.driver_retry_attempts),
        before_sleep=before_sleep,
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover


def new_bootstrap_token(rt: Runtime, desk_id: str) -> str:
    """A fresh single-use token for the desk (older unused ones are burnt); only its hash stays."""
    token = new_token(BOOTSTRAP_TOKEN_PREFIX)
    now = utcnow()
    with rt.db.session() as session:
        session.execute(
            update(BootstrapToken)
            .where(col(BootstrapToken.desk_id) == desk_id, col(BootstrapToken.used_at).is_(None))
            .values(used_at=now)
        )
        session.add(
            BootstrapToken(
                token_hash=hash_token(token),
                desk_id=desk_id,
                expires_at=now + timedelta(seconds=rt.settings.bootstrap_token_ttl),
            )
        )
        session.commit()
    return token


def control_plane_url_for_guest(rt: Runtime) -> str:
    """The URL a VM uses to reach us: the driver may translate it (qemu's guest forward)."""
    translate = getattr(rt.driver, "guest_control_plane_url", None)
    url = rt.settings.public_url
    return str(translate(url)) if callable(translate) else url


async def build_spec(rt: Runtime, desk: Desk) -> tuple[DeskSpec, DeskBootSettings]:
    """Render the desk's user-data (with a fresh bootstrap token) into a driver spec."""
    dist = await asyncio.to_thread(rt.dist.ensure)
    token = await asyncio.to_thread(new_bootstrap_token, rt, desk.id)
    boot = DeskBootSettings(
        desk_id=desk.id,
        hostname=desk.name,
        control_plane_url=control_plane_url_for_guest(rt),
        control_plane_ca_pem=rt.pki.ca_pem,
        bootstrap_token=token,
        agent=AgentBootConfig(
            provider=desk.provider,  # type: ignore[arg-type]
            model=desk.model,
            endpoint=desk.endpoint,
            longer_context_model=desk.longer_context_model,
            max_tool_calls=desk.max_tool_calls,
            embeddings_provider=desk.embeddings_provider,  # type: ignore[arg-type]
            embeddings_model=desk.embeddings_model,
            embeddings_endpoint=desk.embeddings_endpoint,
        ),
        agent_dist=dist,
        data_disk_device=getattr(rt.driver, "guest_data_disk_device", None),
    )
    rendered = render_desk(boot)
    spec = DeskSpec(
        desk_id=desk.id,
        owner_id=desk.owner_id,
        name=desk.name,
        size=DESK_SIZES[desk.size],
        user_data=rendered.text,
        user_data_gzipped=rendered.gzipped,
        region=desk.region,
        labels={"bureau-desk": desk.id, "bureau-owner": desk.owner_id},
    )
    return spec, boot


async def wait_healthy(rt: Runtime, desk_id: str, expect: tuple[DeskState, ...]) -> None:
    """Poll the agent's health over mutual TLS until it answers; then ready (or awaiting_key)."""
    deadline = time.monotonic() + rt.settings.health_timeout_seconds
    delay = 0.1
    last = "no answer yet"
    while time.monotonic() < deadline:
        desk = await load(rt, desk_id)
        if DeskState(desk.state) not in expect:
            raise JobAbort(f"desk {desk_id} is {desk.state}")
        if desk.agent_url:
            try:
                health = await rt.agents.health(desk_id, desk.agent_url)
            except AgentUnreachable as exc:
                last = str(exc)
            else:
                if health.desk_id not in (None, desk_id):
                    last = f"the agent says it is desk {health.desk_id}"
                elif health.status == "awaiting_key":
                    await move(rt, desk_id, S.AWAITING_KEY, "the agent has no key", expect=expect)
                    return
                else:
                    await move(rt, desk_id, S.READY, f"the agent is {health.status}", expect=expect)
                    return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
    raise AgentUnreachable(
        f"the agent did not pass its health check within "
        f"{rt.settings.health_timeout_seconds:.0f}s ({last})"
    )


# --- handlers --------------------------------------------------------------------------------
async def provision(rt: Runtime, job: Job) -> None:
    desk_id = str(job.desk_id)
    desk = await load(rt, desk_id)
    if desk.state == S.PENDING.value:
        desk = await move(rt, desk_id, S.PROVISIONING, "provisioning", expect=(S.PENDING,))
    elif desk.state != S.PROVISIONING.value:  # re-run after a crash finds it further along
        raise JobAbort(f"desk {desk_id} is {desk.state}")
    spec, boot = await build_spec(rt, desk)
    report = progress_fn(rt, desk_id)
    from orchestrator.pool import try_assign_from_pool  # the warm pool (qemu only; else None)

    handle = await try_assign_from_pool(rt.driver, spec, boot, report)
    if handle is None:
        handle = await with_retries(rt, desk_id, lambda: rt.driver.create(spec, report))
    await asyncio.to_thread(_store_created, rt, desk_id, handle)
    rt.notifier.notify()


def _store_created(rt: Runtime, desk_id: str, handle: DeskHandle) -> None:
    with rt.db.session() as session:
        fresh = session.get(Desk, desk_id)
        if fresh is None:
            raise JobAbort("desk vanished")
        save_handle(fresh, handle)
        if fresh.state == S.PROVISIONING.value:
            transition(session, fresh, S.BOOTING, "the machine is up; waiting for the agent")
        session.add(fresh)
        session.commit()


async def verify(rt: Runtime, job: Job) -> None:
    await wait_healthy(rt, str(job.desk_id), (S.ENROLLING, S.BOOTING))


async def _start(rt: Runtime, desk_id: str) -> None:
    desk = await load(rt, desk_id)
    if desk.state != S.STARTING.value:
        raise JobAbort(f"desk {desk_id} is {desk.state}")
    spec, _boot = await build_spec(rt, desk)
    report = progress_fn(rt, desk_id)
    await rt.agents.forget(desk_id)
    handle = await with_retries(rt, desk_id, lambda: rt.driver.start(spec, report))
    await move(rt, desk_id, S.BOOTING, "the machine is up", expect=(S.STARTING,), handle=handle)
    await wait_healthy(rt, desk_id, (S.BOOTING,))
    await push_escrowed_key(rt, desk_id)


async def push_escrowed_key(rt: Runtime, desk_id: str) -> None:
    """A key supplied while the desk was down (failed) goes to the agent once it is back."""
    secrets = rt.escrow.take(desk_id)
    desk = await load(rt, desk_id)
    if not secrets or "provider" not in secrets or not desk.agent_url:
        return
    update = ProviderUpdate(
        provider=ProviderCredentials(
            provider=desk.provider,  # type: ignore[arg-type]
            api_key=secrets["provider"],  # type: ignore[arg-type]
            model=desk.model,
            endpoint=desk.endpoint,
            longer_context_model=desk.longer_context_model,
            max_tool_calls=desk.max_tool_calls,
        )
    )
    report = progress_fn(rt, desk_id)
    try:
        await rt.agents.push_provider(desk_id, desk.agent_url, update)
    except AgentUnreachable as exc:
        report(f"the new key could not be delivered ({exc}); supply it again")
        return
    report(f"key delivered to the agent ({desk.key_hint})")
    if (await load(rt, desk_id)).state == S.AWAITING_KEY.value:
        await move(rt, desk_id, S.READY, "the agent has its key", expect=(S.AWAITING_KEY,))


async def start(rt: Runtime, job: Job) -> None:
    await _start(rt, str(job.desk_id))


async def _stop(rt: Runtime, desk_id: str) -> None:
    desk = await load(rt, desk_id)
    if desk.state != S.STOPPING.value:
        raise JobAbort(f"desk {desk_id} is {desk.state}")
    report = progress_fn(rt, desk_id)
    await with_retries(rt, desk_id, lambda: rt.driver.stop(desk_id, report))
    await rt.agents.forget(desk_id)
    await move(rt, desk_id, S.STOPPED, "stopped", expect=(S.STOPPING,))


async def stop(rt: Runtime, job: Job) -> None:
    await _stop(rt, str(job.desk_id))


async def restart(rt: Runtime, job: Job) -> None:
    desk_id = str(job.desk_id)
    await _stop(rt, desk_id)
    await move(rt, desk_id, S.STARTING, "starting again", expect=(S.STOPPED,))
    await _start(rt, desk_id)


async def destroy(rt: Runtime, job: Job) -> None:
    desk_id = str(job.desk_id)
    others = await asyncio.to_thread(_running_others, rt, desk_id, job.id)
    if others:
        raise RetryLater(0.2, "waiting for the desk's other jobs to stop")
    desk = await load(rt, desk_id)
    if desk.state != S.DELETING.value:
        raise JobAbort(f"desk {desk_id} is {desk.state}")
    rt.escrow.discard(desk_id)
    report = progress_fn(rt, desk_id)
    await with_retries(rt, desk_id, lambda: rt.driver.destroy(desk_id, report))
    await rt.agents.forget(desk_id)
    await asyncio.to_thread(_burn_tokens, rt, desk_id)
    await move(rt, desk_id, S.DELETED, "deleted; no machine is left", expect=(S.DELETING,))


async def noop(rt: Runtime, job: Job) -> None:
    """For tests and benchmarks: sleeps ``payload['sleep']`` seconds (only on the first
    ``payload['sleep_attempts']`` attempts, when given), then appends the job id to the file
    ``payload['record']`` (one line per run: proves each job ran exactly once)."""
    seconds = float(job.payload.get("sleep", 0))
    if seconds and job.attempts <= int(job.payload.get("sleep_attempts", job.attempts)):
        await asyncio.sleep(seconds)
    record = job.payload.get("record")
    if record:
        line = f"{job.id}\n".encode()
        fd = os.open(str(record), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def _running_others(rt: Runtime, desk_id: str, job_id: str) -> list[Job]:
    with rt.db.read_session() as session:
        return queue.running_for_desk(session, desk_id, exclude=job_id)


def _burn_tokens(rt: Runtime, desk_id: str) -> None:
    with rt.db.session() as session:
        session.execute(
            update(BootstrapToken)
            .where(col(BootstrapToken.desk_id) == desk_id, col(BootstrapToken.used_at).is_(None))
            .values(used_at=utcnow())
        )
        session.commit()


HANDLERS: dict[str, Handler] = {
    "provision": provision,
    "verify": verify,
    "start": start,
    "stop": stop,
    "restart": restart,
    "destroy": destroy,
    "noop": noop,
}
