"""The job queue: rows in ``jobs``, acquired atomically by workers.

Acquisition: on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` (workers never wait on each other);
on SQLite the write transaction holds the database's single write lock (``BEGIN IMMEDIATE``), so
one writer at a time picks a job. A running job proves it is alive with ``heartbeat``; the reaper
re-queues running jobs whose heartbeat is older than the stale limit (their worker died), up to
``max_attempts``. Cancellation sets ``cancel_requested``: queued jobs end at once, a running job's
next heartbeat tells its worker to stop.

A worker process asks ``has_due`` (a plain read) before it opens a write transaction, and takes as
many jobs as it has free slots in one transaction (``acquire_many``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import update
from sqlmodel import Session, col, select

from orchestrator.db import Database
from orchestrator.models import Job, JobState, utcnow

HeartbeatResult = Literal["ok", "cancel", "lost"]


def _locked_now(session: Session) -> datetime:
    """Begin the transaction first (on SQLite: take the write lock), then read the clock, so a
    wait for the lock never makes a fresh timestamp look old to the reaper."""
    session.connection()
    return utcnow()


def enqueue(
    session: Session,
    kind: str,
    desk_id: str | None = None,
    *,
    payload: dict[str, Any] | None = None,
    delay_seconds: float = 0.0,
    max_attempts: int = 5,
) -> Job:
    """Add a job in the caller's transaction (it becomes visible at commit)."""
    job = Job(
        kind=kind,
        desk_id=desk_id,
        payload=payload or {},
        max_attempts=max_attempts,
        run_after=utcnow() + timedelta(seconds=delay_seconds),
    )
    session.add(job)
    return job


def _due(kinds: list[str] | None, now: datetime, limit: int) -> Any:
    query = (
        select(Job)
        .where(Job.state == JobState.QUEUED.value, Job.run_after <= now)
        .order_by(col(Job.run_after), col(Job.id))
        .limit(limit)
    )
    if kinds is not None:
        query = query.where(col(Job.kind).in_(kinds))
    return query


def has_due(db: Database, kinds: Iterable[str] | None = None) -> bool:
    """Whether some job is due, read without a write transaction (no lock on SQLite).

    Idle workers ask this before ``acquire_many`` so that an empty queue costs one indexed read,
    not a ``BEGIN IMMEDIATE`` that would make every API write wait behind the poll.
    """
    kind_list = None if kinds is None else list(kinds)
    query = (
        select(Job.id).where(Job.state == JobState.QUEUED.value, Job.run_after <= utcnow()).limit(1)
    )
    if kind_list is not None:
        query = query.where(col(Job.kind).in_(kind_list))
    with db.read_session() as session:
        return session.exec(query).first() is not None


def acquire_many(
    db: Database, worker_ids: Sequence[str], kinds: Iterable[str] | None = None
) -> list[tuple[Job, str]]:
    """Take up to ``len(worker_ids)`` of the oldest due jobs in one transaction, each marked
    running for one of ``worker_ids`` (in order); returns (job, worker id) pairs."""
    if not worker_ids:
        return []
    kind_list = None if kinds is None else list(kinds)
    with db.session() as session:
        now = _locked_now(session)
        query = _due(kind_list, now, len(worker_ids))
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        jobs = list(session.exec(query).all())
        if not jobs:
            session.rollback()
            return []
        taken: list[tuple[Job, str]] = []
        for job, worker_id in zip(jobs, worker_ids, strict=False):
            job.state = JobState.RUNNING.value
            job.worker_id = worker_id
            job.attempts += 1
            job.heartbeat_at = now
            job.started_at = now
            job.updated_at = now
            session.add(job)
            taken.append((job, worker_id))
        session.commit()
        return taken


def acquire(db: Database, worker_id: str, kinds: Iterable[str] | None = None) -> Job | None:
    """Take the oldest due job, mark it running for ``worker_id``; None when nothing is due."""
    taken = acquire_many(db, [worker_id], kinds)
    return taken[0][0] if taken else None


def heartbeat(db: Database, job_id: str, worker_id: str) -> HeartbeatResult:
    """Refresh a running job's heartbeat; say whether to go on, cancel, or give up (lost)."""
    with db.session() as session:
        now = _locked_now(session)
        result = session.execute(
            update(Job)
            .where(
                col(Job.id) == job_id,
                col(Job.worker_id) == worker_id,
                col(Job.state) == JobState.RUNNING.value,
            )
            .values(heartbeat_at=now, updated_at=now)
            .returning(col(Job.cancel_requested))
        ).first()
        session.commit()
    if result is None:
        return "lost"
    return "cancel" if result[0] else "ok"


def _finish(
    db: Database,
    job_id: str,
    worker_id: str,
    state: JobState,
    error: str | None = None,
    *,
    requeue_after: float | None = None,
) -> bool:
    with db.session() as session:
        now = _locked_now(session)
        values: dict[str, Any] = {"state": state.value, "error": error, "updated_at": now}
        if requeue_after is not None:
            values["run_after"] = now + timedelta(seconds=requeue_after)
            values["worker_id"] = None
            values["heartbeat_at"] = None
        result = session.execute(
            update(Job)
            .where(
                col(Job.id) == job_id,
                col(Job.worker_id) == worker_id,
                col(Job.state) == JobState.RUNNING.value,
            )
            .values(**values)
        )
        session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def complete(db: Database, job_id: str, worker_id: str) -> bool:
    return _finish(db, job_id, worker_id, JobState.DONE)


def complete_in(session: Session, job: Job) -> bool:
    """Mark ``job`` done in the caller's transaction if its worker still holds it, so that the
    handler's last write and the job's end commit together (one transaction fewer per job).

    Lock the desk's row first (``with_for_update``): every transaction that changes a desk and
    its jobs takes the desk's row, then the jobs' (``Desks.delete``/``stop`` then
    ``cancel_for_desk``), or PostgreSQL deadlocks. After the commit, set ``job.state`` to done:
    the worker then records nothing more.
    """
    result = session.execute(
        update(Job)
        .where(
            col(Job.id) == job.id,
            col(Job.worker_id) == job.worker_id,
            col(Job.state) == JobState.RUNNING.value,
        )
        .values(state=JobState.DONE.value, error=None, updated_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def fail(db: Database, job_id: str, worker_id: str, error: str) -> bool:
    return _finish(db, job_id, worker_id, JobState.FAILED, error)


def mark_cancelled(db: Database, job_id: str, worker_id: str) -> bool:
    return _finish(db, job_id, worker_id, JobState.CANCELLED, "cancelled")


def requeue(db: Database, job_id: str, worker_id: str, delay: float, note: str) -> bool:
    """Put a running job back (without counting it as failed), e.g. to wait for another job."""
    with db.session() as session:
        now = _locked_now(session)
        result = session.execute(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.worker_id) == worker_id)
            .values(
                state=JobState.QUEUED.value,
                worker_id=None,
                heartbeat_at=None,
                attempts=Job.attempts - 1,  # type: ignore[operator]
                run_after=now + timedelta(seconds=delay),
                error=note,
                updated_at=now,
            )
        )
        session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def cancel_for_desk(session: Session, desk_id: str, *, keep: Iterable[str] = ()) -> int:
    """Cancel a desk's queued jobs and ask its running ones to stop (caller's transaction)."""
    kept = list(keep)
    now = utcnow()
    queued = session.execute(
        update(Job)
        .where(
            col(Job.desk_id) == desk_id,
            col(Job.state) == JobState.QUEUED.value,
            col(Job.id).not_in(kept),
        )
        .values(state=JobState.CANCELLED.value, error="cancelled", updated_at=now)
    )
    running = session.execute(
        update(Job)
        .where(
            col(Job.desk_id) == desk_id,
            col(Job.state) == JobState.RUNNING.value,
            col(Job.id).not_in(kept),
        )
        .values(cancel_requested=True, updated_at=now)
    )
    return int(queued.rowcount + running.rowcount)  # type: ignore[attr-defined]


def running_for_desk(session: Session, desk_id: str, *, exclude: str) -> list[Job]:
    return list(
        session.exec(
            select(Job).where(
                Job.desk_id == desk_id, Job.state == JobState.RUNNING.value, Job.id != exclude
            )
        ).all()
    )


def reap(db: Database, stale_seconds: float) -> tuple[list[Job], list[Job]]:
    """Re-queue (or fail, when out of attempts) running jobs whose heartbeat went stale.

    Returns (requeued, failed) so the caller can fail the desks of the failed ones.
    """
    requeued: list[Job] = []
    failed: list[Job] = []
    stale = select(Job.id).where(
        Job.state == JobState.RUNNING.value,
        col(Job.heartbeat_at) < utcnow() - timedelta(seconds=stale_seconds),
    )
    with db.read_session() as session:  # the usual answer, "none", without a write lock
        if session.exec(stale.limit(1)).first() is None:
            return requeued, failed
    with db.session() as session:
        cutoff = _locked_now(session) - timedelta(seconds=stale_seconds)
        query = select(Job).where(
            Job.state == JobState.RUNNING.value, col(Job.heartbeat_at) < cutoff
        )
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        for job in session.exec(query).all():
            now = utcnow()
            job.updated_at = now
            job.worker_id = None
            job.heartbeat_at = None
            if job.cancel_requested:
                job.state = JobState.CANCELLED.value
                job.error = "cancelled (its worker stopped answering)"
            elif job.attempts >= job.max_attempts:
                job.state = JobState.FAILED.value
                job.error = f"its worker stopped answering {job.attempts} times"
                failed.append(job)
            else:
                job.state = JobState.QUEUED.value
                job.run_after = now
                job.error = "re-queued: its worker stopped answering"
                requeued.append(job)
            session.add(job)
        session.commit()
    return requeued, failed
