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
from sqlmodel import Session, col
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from cloud_init.render import render_desk
from cloud_init.settings import AgentBootConfig, AgentDist, DeskBootSettings
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
from orchestrator.models import BootstrapToken, Desk, DeskState, Job, JobState, utcnow
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
        desk = session.get(Desk, desk_id, with_for_update=True)  # decide on the committed state
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


def write_progress(rt: Runtime, desk_id: str, texts: list[str]) -> None:
    """Store driver messages as ``progress`` events (one transaction)."""
    if not texts:
        return
    with rt.db.session() as session:
        desk = session.get(Desk, desk_id)
        if desk is not None:
            for text in texts:
                progress(session, desk, text)
            session.commit()
    rt.notifier.notify()


_WRITERS: set[asyncio.Task[None]] = set()
"""Progress writers in flight (asyncio keeps only weak references to tasks)."""


class Progress:
    """A driver's progress callback (``ProgressFn``): each message redacted, stored as an event.

    Drivers call it from worker threads or from the event loop. From a thread it writes at once.
    On the loop it must not wait for the database (on SQLite a write waits for the write lock, and
    the whole API with it): messages queue and a task writes them, in order, off the loop.
    ``settle`` waits for those writes and hands back the messages not yet written, for the
    caller's next transaction; ``flush`` writes them itself. Call one of them before a transition.
    """

    def __init__(self, rt: Runtime, desk_id: str) -> None:
        self.rt = rt
        self.desk_id = desk_id
        self._pending: list[str] = []
        self._writer: asyncio.Task[None] | None = None
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def __call__(self, message: str) -> None:
        text = redact(str(message), self.rt.escrow.values())[:2000]
        if self._loop is None or not self._on_loop():
            write_progress(self.rt, self.desk_id, [text])
            return
        self._pending.append(text)
        if self._writer is None or self._writer.done():
            self._writer = self._loop.create_task(self._drain())
            _WRITERS.add(self._writer)
            self._writer.add_done_callback(_WRITERS.discard)

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(write_progress, self.rt, self.desk_id, batch)
            except Exception:
                log.exception("storing progress of desk %s failed", self.desk_id)

    async def settle(self) -> list[str]:
        """Wait for the writes in flight; return (and forget) the messages not written yet."""
        unwritten, self._pending = self._pending, []
        if self._writer is not None:
            await asyncio.shield(self._writer)
        return unwritten

    async def flush(self) -> None:
        unwritten = await self.settle()
        if unwritten:
            await asyncio.to_thread(write_progress, self.rt, self.desk_id, unwritten)


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


async def with_retries(rt: Runtime, report: ProgressFn, call: Callable[[], Awaitable[T]]) -> T:
    """Run a driver call, retrying transient errors with exponential backoff."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        report(f"transient driver error, retrying (attempt {state.attempt_number}): {error}")

    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TransientDriverError),
            wait=_wait(rt),
            stop=stop_after_attempt(rt.settings.driver_retry_attempts),
            before_sleep=before_sleep,
            reraise=True,
        ):
            with attempt:
                return await call()
    except Exception:
        if isinstance(report, Progress):  # the driver's last words before the desk fails
            try:
                await report.flush()
            except Exception:  # keep the driver's error, not the progress write's
                log.exception("storing progress of desk %s failed", report.desk_id)
        raise
    raise AssertionError("unreachable")  # pragma: no cover


def new_bootstrap_token(rt: Runtime, desk_id: str) -> str:
    """A fresh single-use token for the desk (older unused ones are burnt); only its hash stays."""
    with rt.db.session() as session:
        token = add_bootstrap_token(rt, session, desk_id)
        session.commit()
    return token


def add_bootstrap_token(rt: Runtime, session: Session, desk_id: str) -> str:
    """``new_bootstrap_token`` in the caller's transaction."""
    burn_bootstrap_tokens(session, desk_id)
    return issue_bootstrap_token(rt, session, desk_id)


def burn_bootstrap_tokens(session: Session, desk_id: str) -> None:
    session.execute(
        update(BootstrapToken)
        .where(col(BootstrapToken.desk_id) == desk_id, col(BootstrapToken.used_at).is_(None))
        .values(used_at=utcnow())
    )


def issue_bootstrap_token(rt: Runtime, session: Session, desk_id: str) -> str:
    token = new_token(BOOTSTRAP_TOKEN_PREFIX)
    session.add(
        BootstrapToken(
            token_hash=hash_token(token),
            desk_id=desk_id,
            expires_at=utcnow() + timedelta(seconds=rt.settings.bootstrap_token_ttl),
        )
    )
    return token


def control_plane_url_for_guest(rt: Runtime) -> str:
    """The URL a VM uses to reach us: the driver may translate it (qemu's guest forward)."""
    translate = getattr(rt.driver, "guest_control_plane_url", None)
    url = rt.settings.public_url
    return str(translate(url)) if callable(translate) else url


async def build_spec(rt: Runtime, desk: Desk) -> tuple[DeskSpec, DeskBootSettings]:
    """Render the desk's user-data (with a fresh bootstrap token) into a driver spec."""

    def build() -> tuple[DeskSpec, DeskBootSettings]:
        dist = rt.dist.ensure()
        return render_spec(rt, desk, new_bootstrap_token(rt, desk.id), dist)

    return await asyncio.to_thread(build)


def render_spec(
    rt: Runtime, desk: Desk, token: str, dist: AgentDist
) -> tuple[DeskSpec, DeskBootSettings]:
    """The driver spec of ``desk`` with its user-data (CPU work: call it off the event loop)."""
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
        if desk.agent_url:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)  # a refused probe costs nothing; a pooled agent is up fast
        else:
            # The machine's address is stored when its provision ends (a pooled desk enrolls
            # before that, starting this job): probe as soon as that commit notifies, not a poll
            # interval later. A pooled agent's port already listens, so that probe waits in its
            # backlog and is answered the moment the agent serves.
            await rt.notifier.wait(0.5)
    raise AgentUnreachable(
        f"the agent did not pass its health check within "
        f"{rt.settings.health_timeout_seconds:.0f}s ({last})"
    )


# --- handlers --------------------------------------------------------------------------------
async def provision(rt: Runtime, job: Job) -> None:
    desk_id = str(job.desk_id)
    spec, boot = await asyncio.to_thread(_prepare_provision, rt, desk_id)
    report = Progress(rt, desk_id)
    from orchestrator.pool import try_assign_from_pool  # the warm pool (qemu only; else None)

    handle = await try_assign_from_pool(rt.driver, spec, boot, report)
    if handle is None:
        handle = await with_retries(rt, report, lambda: rt.driver.create(spec, report))
    unwritten = await report.settle()
    await asyncio.to_thread(_store_created, rt, job, handle, unwritten)
    rt.notifier.notify()


def _prepare_provision(rt: Runtime, desk_id: str) -> tuple[DeskSpec, DeskBootSettings]:
    """pending -> provisioning and a fresh bootstrap token in one transaction, then the spec.

    A re-run after a crash finds the desk provisioning already and goes on from there.
    """
    with rt.db.session() as session:
        burn_bootstrap_tokens(session, desk_id)  # the tokens' rows, then the desk's: as enroll()
        # Locked (PostgreSQL; SQLite's write lock is already ours): a delete committed meanwhile
        # must not be overwritten by a transition decided on the state read before it.
        desk = session.get(Desk, desk_id, with_for_update=True)
        if desk is None or desk.state not in (S.PENDING.value, S.PROVISIONING.value):
            session.rollback()
            raise JobAbort(f"desk {desk_id} is {desk.state if desk else 'missing'}")
        token = issue_bootstrap_token(rt, session, desk_id)
        if desk.state == S.PENDING.value:
            transition(session, desk, S.PROVISIONING, "provisioning")
        session.commit()
    rt.notifier.notify()
    return render_spec(rt, desk, token, rt.dist.ensure())


def _store_created(rt: Runtime, job: Job, handle: DeskHandle, notes: list[str]) -> None:
    """The machine's handle, the driver's last messages, provisioning -> booting and the job's
    end, in one transaction (the desk's row locked first: see ``queue.complete_in``)."""
    with rt.db.session() as session:
        fresh = session.get(Desk, str(job.desk_id), with_for_update=True)
        if fresh is None:
            raise JobAbort("desk vanished")
        ended = queue.complete_in(session, job)
        for note in notes:
            progress(session, fresh, note)
        save_handle(fresh, handle)
        if fresh.state == S.PROVISIONING.value:
            transition(session, fresh, S.BOOTING, "the machine is up; waiting for the agent")
        session.add(fresh)
        session.commit()
    if ended:
        job.state = JobState.DONE.value


async def verify(rt: Runtime, job: Job) -> None:
    await wait_healthy(rt, str(job.desk_id), (S.ENROLLING, S.BOOTING))


async def _start(rt: Runtime, desk_id: str) -> None:
    desk = await load(rt, desk_id)
    if desk.state != S.STARTING.value:
        raise JobAbort(f"desk {desk_id} is {desk.state}")
    spec, _boot = await build_spec(rt, desk)
    report = Progress(rt, desk_id)
    await rt.agents.forget(desk_id)
    handle = await with_retries(rt, report, lambda: rt.driver.start(spec, report))
    await report.flush()
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
    report = Progress(rt, desk_id)
    try:
        await rt.agents.push_provider(desk_id, desk.agent_url, update)
    except AgentUnreachable as exc:
        report(f"the new key could not be delivered ({exc}); supply it again")
        await report.flush()
        return
    report(f"key delivered to the agent ({desk.key_hint})")
    await report.flush()
    if (await load(rt, desk_id)).state == S.AWAITING_KEY.value:
        await move(rt, desk_id, S.READY, "the agent has its key", expect=(S.AWAITING_KEY,))


async def start(rt: Runtime, job: Job) -> None:
    await _start(rt, str(job.desk_id))


async def _stop(rt: Runtime, desk_id: str) -> None:
    desk = await load(rt, desk_id)
    if desk.state != S.STOPPING.value:
        raise JobAbort(f"desk {desk_id} is {desk.state}")
    report = Progress(rt, desk_id)
    await with_retries(rt, report, lambda: rt.driver.stop(desk_id, report))
    await report.flush()
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
    report = Progress(rt, desk_id)
    await with_retries(rt, report, lambda: rt.driver.destroy(desk_id, report))
    await report.flush()
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
