"""Background duties beside the workers: the reaper, the reconciler, the enrollment deadline.

- Reaper (every few seconds): running jobs with a stale heartbeat go back to the queue (their
  worker died); out of attempts, the job and its desk fail.
- Reconciler (every ``reconcile_interval_seconds``): compares ``driver.list_managed()`` with the
  database. Machines of deleted or unknown desks are destroyed (orphans); desks that should have a
  machine but have none fail with "the machine vanished". Desks still booting after
  ``enroll_timeout_seconds`` fail with the console's tail in an event.
On PostgreSQL, several processes may run this; a transaction-level advisory lock lets one reconcile
at a time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import col, select

from orchestrator.drivers.base import DriverError, MachineState
from orchestrator.jobs import queue
from orchestrator.jobs.worker import fail_desk
from orchestrator.lifecycle import progress
from orchestrator.models import Desk, DeskState, utcnow
from orchestrator.redaction import redact
from orchestrator.runtime import Runtime

log = logging.getLogger("orchestrator.maintenance")
S = DeskState
_RECONCILE_LOCK = 0x42555246
#: Desks in these states must have a machine.
NEEDS_MACHINE = (S.BOOTING.value, S.ENROLLING.value, S.READY.value, S.AWAITING_KEY.value)


def reap_once(rt: Runtime) -> int:
    requeued, failed = queue.reap(rt.db, rt.settings.job_stale_seconds)
    for job in requeued:
        log.warning("re-queued job %s (%s): its worker stopped answering", job.id, job.kind)
    for job in failed:
        fail_desk(rt, job.desk_id, f"{job.kind} failed: its worker stopped answering")
    if requeued or failed:
        rt.notifier.notify()
    return len(requeued) + len(failed)


def _try_lock(rt: Runtime) -> bool:
    if rt.db.is_sqlite:
        return True
    with rt.db.engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": _RECONCILE_LOCK})
        locked = bool(got.scalar())
        if locked:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _RECONCILE_LOCK})
        return locked


async def reconcile_once(rt: Runtime) -> dict[str, int]:
    """One reconciliation pass; returns counts (orphans destroyed, desks marked vanished)."""
    counts = {"orphans": 0, "vanished": 0, "enroll_timeouts": 0}
    if not await asyncio.to_thread(_try_lock, rt):
        return counts
    machines = await rt.driver.list_managed()
    by_id = {m.desk_id: m for m in machines}
    desks = await asyncio.to_thread(_desks_of, rt, list(by_id))
    for desk_id, machine in by_id.items():
        desk = desks.get(desk_id)
        if machine.state is MachineState.MISSING:
            continue
        if desk is None or desk.state == S.DELETED.value:
            try:
                await rt.driver.destroy(desk_id, lambda _m: None)
                counts["orphans"] += 1
            except DriverError as exc:
                log.warning("could not destroy orphan machine %s: %s", desk_id, exc)
    for desk in desks.values():
        if desk.state not in NEEDS_MACHINE:
            continue
        found = by_id.get(desk.id)
        if found is None or found.state is MachineState.MISSING:
            await asyncio.to_thread(
                fail_desk, rt, desk.id, "the desk's machine vanished (found by the reconciler)"
            )
            counts["vanished"] += 1
    counts["enroll_timeouts"] = await enroll_deadline(rt)
    rt.escrow.purge_expired()
    return counts


def _desks_of(rt: Runtime, machine_ids: list[str]) -> dict[str, Desk]:
    with rt.db.read_session() as session:
        rows = session.exec(
            select(Desk).where(col(Desk.id).in_(machine_ids) | col(Desk.state).in_(NEEDS_MACHINE))
        ).all()
    return {d.id: d for d in rows}


def _booting_since(rt: Runtime, cutoff: datetime) -> list[Desk]:
    with rt.db.read_session() as session:
        return list(
            session.exec(
                select(Desk).where(Desk.state == S.BOOTING.value, col(Desk.updated_at) < cutoff)
            ).all()
        )


def _note(rt: Runtime, desk_id: str, text: str) -> None:
    with rt.db.session() as session:
        fresh = session.get(Desk, desk_id)
        if fresh is not None:
            progress(session, fresh, text)
            session.commit()


async def enroll_deadline(rt: Runtime) -> int:
    cutoff = utcnow() - timedelta(seconds=rt.settings.enroll_timeout_seconds)
    late = await asyncio.to_thread(_booting_since, rt, cutoff)
    for desk in late:
        try:
            console = await rt.driver.console_excerpt(desk.id, 2000)
        except DriverError:
            console = ""
        if console:
            text = "console: " + redact(console, rt.escrow.values())
            await asyncio.to_thread(_note, rt, desk.id, text)
        await asyncio.to_thread(
            fail_desk,
            rt,
            desk.id,
            f"the agent did not enroll within {rt.settings.enroll_timeout_seconds}s; "
            "see the console excerpt in the events, then start the desk again",
        )
    return len(late)


async def run_maintenance(rt: Runtime, stop: asyncio.Event) -> None:
    """Reap often, reconcile now and then, until ``stop`` is set."""
    reap_every = max(0.2, min(rt.settings.job_stale_seconds / 3, 5.0))
    loop = asyncio.get_running_loop()
    next_reconcile = loop.time() + min(5.0, rt.settings.reconcile_interval_seconds)
    while not stop.is_set():
        try:
            await asyncio.to_thread(reap_once, rt)
            if loop.time() >= next_reconcile:
                await reconcile_once(rt)
                next_reconcile = loop.time() + rt.settings.reconcile_interval_seconds
        except Exception:
            log.exception("maintenance pass failed")
        try:
            await asyncio.wait_for(stop.wait(), reap_every)
        except TimeoutError:
            pass
