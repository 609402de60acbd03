"""The worker pool: N concurrent slots that acquire jobs, heartbeat, and record the outcome.

Runs inside ``bureau serve`` (by default) or alone in ``bureau worker`` processes. One dispatcher
fills the free slots; when the queue is empty it sleeps on the process's notifier (woken at once by
jobs enqueued in this process) or polls every ``job_poll_seconds`` (jobs enqueued by other
processes) with a plain read, never a write transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket

from orchestrator.agent_client import AgentUnreachable
from orchestrator.dist import DistError
from orchestrator.drivers.base import DriverError
from orchestrator.jobs import queue
from orchestrator.jobs.handlers import HANDLERS, JobAbort, RetryLater
from orchestrator.lifecycle import IllegalTransition, transition
from orchestrator.models import Desk, DeskState, Job, JobState
from orchestrator.redaction import redact
from orchestrator.runtime import Runtime

log = logging.getLogger("orchestrator.worker")
S = DeskState


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def fail_desk(rt: Runtime, desk_id: str | None, reason: str) -> None:
    """Mark the desk failed with ``reason`` (if it is not already failed or deleted)."""
    if not desk_id:
        return
    with rt.db.session() as session:
        desk = session.get(Desk, desk_id, with_for_update=True)
        if desk is None or desk.state in (S.FAILED.value, S.DELETED.value):
            return
        try:
            transition(session, desk, S.FAILED, reason=reason)
        except IllegalTransition:
            session.rollback()
            return
        session.commit()
    rt.notifier.notify()


class WorkerPool:
    def __init__(self, rt: Runtime, *, concurrency: int, worker_id: str | None = None) -> None:
        self.rt = rt
        self.concurrency = concurrency
        self.worker_id = worker_id or default_worker_id()
        self.jobs_run = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; running jobs are cancelled and re-queued by the reaper.

        One dispatcher per process fills the free slots: it asks ``queue.has_due`` (a read) and,
        only when something is due, takes up to one job per free slot in one write transaction.
        It sleeps on the notifier (jobs enqueued in this process wake it at once) or for
        ``job_poll_seconds`` (jobs enqueued by other processes), or until a slot frees up.
        """
        free = list(range(self.concurrency))
        running: set[asyncio.Task[None]] = set()
        poll = self.rt.settings.job_poll_seconds
        stopped = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                if not free:
                    await asyncio.wait({stopped, *running}, return_when=asyncio.FIRST_COMPLETED)
                    continue
                # Listen before looking: a job enqueued while we look still wakes us.
                wake = asyncio.ensure_future(self.rt.notifier.wait(poll))
                await asyncio.sleep(0)
                try:
                    taken = await asyncio.to_thread(self._take, [self._slot_id(n) for n in free])
                except Exception:
                    log.exception("acquiring a job failed")
                    wake.cancel()
                    await asyncio.sleep(1.0)
                    continue
                if taken:
                    wake.cancel()
                    for job, slot_id in taken:
                        n = int(slot_id.rsplit("/", 1)[1])
                        free.remove(n)
                        task = asyncio.create_task(self._run(job, slot_id), name=f"job-{job.id}")
                        running.add(task)
                        task.add_done_callback(functools.partial(self._release, running, free, n))
                    continue
                await asyncio.wait({wake, stopped, *running}, return_when=asyncio.FIRST_COMPLETED)
                wake.cancel()
        finally:
            stopped.cancel()
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    @staticmethod
    def _release(
        running: set[asyncio.Task[None]], free: list[int], n: int, task: asyncio.Task[None]
    ) -> None:
        running.discard(task)
        free.append(n)
        if not task.cancelled() and task.exception() is not None:
            log.error("worker slot %d failed", n, exc_info=task.exception())

    def _slot_id(self, n: int) -> str:
        return f"{self.worker_id}/{n}"

    def _take(self, slot_ids: list[str]) -> list[tuple[Job, str]]:
        db = self.rt.db
        if not queue.has_due(db):
            return []
        return queue.acquire_many(db, slot_ids)

    async def _run(self, job: Job, slot_id: str) -> None:
        handler = HANDLERS.get(job.kind)
        if handler is None:
            await asyncio.to_thread(queue.fail, self.rt.db, job.id, slot_id, "unknown job kind")
            return
        task = asyncio.create_task(handler(self.rt, job))
        beat = asyncio.create_task(self._heartbeat(job, slot_id, task))
        try:
            outcome = await self._outcome(task)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        await asyncio.to_thread(self._record, job, slot_id, outcome)
        self.jobs_run += 1
        self.rt.notifier.notify()

    @staticmethod
    async def _outcome(task: asyncio.Task[None]) -> BaseException | None:
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():  # we are being cancelled: stop the handler too
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise
            return asyncio.CancelledError()
        except BaseException as exc:
            return exc
        return None

    async def _heartbeat(self, job: Job, slot_id: str, task: asyncio.Task[None]) -> None:
        interval = self.rt.settings.job_heartbeat_seconds
        while not task.done():
            await asyncio.sleep(interval)
            try:
                verdict = await asyncio.to_thread(queue.heartbeat, self.rt.db, job.id, slot_id)
            except Exception:
                log.exception("heartbeat of job %s failed", job.id)
                continue
            if verdict != "ok":
                log.info("job %s: %s; stopping it", job.id, verdict)
                task.cancel()
                return

    def _record(self, job: Job, slot_id: str, outcome: BaseException | None) -> None:
        db = self.rt.db
        if outcome is None and job.state == JobState.DONE.value:
            return  # the handler ended the job in its own last transaction (queue.complete_in)
        if outcome is None or isinstance(outcome, JobAbort):
            if not queue.complete(db, job.id, slot_id):
                log.warning("job %s finished after its lease was lost (reaped)", job.id)
            return
        if isinstance(outcome, asyncio.CancelledError):
            queue.mark_cancelled(db, job.id, slot_id)
            return
        if isinstance(outcome, RetryLater):
            queue.requeue(db, job.id, slot_id, outcome.delay, str(outcome))
            return
        secrets_now = self.rt.escrow.values()
        if isinstance(outcome, DriverError | AgentUnreachable | DistError | ValueError):
            reason = redact(str(outcome), secrets_now) or type(outcome).__name__
        else:
            log.error(
                "job %s (%s) crashed", job.id, job.kind, exc_info=(type(outcome), outcome, None)
            )
            reason = f"internal error while running {job.kind} ({type(outcome).__name__})"
        if queue.fail(db, job.id, slot_id, reason):
            fail_desk(self.rt, job.desk_id, f"{job.kind} failed: {reason}")
