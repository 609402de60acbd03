"""The worker dispatcher and the queue's cheap paths, on SQLite and PostgreSQL: an idle pool or
reaper opens no write transaction, a job enqueued in this process wakes an idle pool at once,
``acquire_many`` hands each due job to one slot, SQLite's in-process write mutex is freed however
a write session ends, and a driver's progress reported on the event loop never waits for it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event, text
from sqlmodel import col, select

from orchestrator.desks import Desks
from orchestrator.drivers.scripted import ScriptedDriver
from orchestrator.jobs import queue
from orchestrator.jobs.handlers import Progress
from orchestrator.jobs.maintenance import reap_once
from orchestrator.jobs.worker import WorkerPool
from orchestrator.models import DeskCreate, DeskEvent, Job, User
from orchestrator.runtime import Runtime, build_runtime
from tests.helpers.wait import wait_until
from tests.orchestrator.conftest import make_settings


@pytest.fixture
def runtime(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    rt = build_runtime(
        make_settings(tmp_path / "data", database_url, 1, job_poll_seconds=0.01),
        driver=ScriptedDriver(),
    )
    yield rt
    rt.close_sync()


class SqlLog:
    """Every statement and every write-engine transaction start of ``rt`` while it listens."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.statements: list[str] = []
        self.write_begins = 0
        self._lock = threading.Lock()

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        with self._lock:
            self.statements.append(statement)

    def _begin(self, _conn: Any) -> None:
        with self._lock:
            self.write_begins += 1

    def __enter__(self) -> SqlLog:
        engines = {self.rt.db.engine, self.rt.db.write_engine}
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self._statement)
        if self.rt.db.is_sqlite:  # on PostgreSQL reads and writes share one engine
            event.listen(self.rt.db.write_engine, "begin", self._begin)
        return self

    def __exit__(self, *_exc: object) -> None:
        for engine in {self.rt.db.engine, self.rt.db.write_engine}:
            event.remove(engine, "before_cursor_execute", self._statement)
        if self.rt.db.is_sqlite:
            event.remove(self.rt.db.write_engine, "begin", self._begin)

    def polls(self) -> int:
        with self._lock:
            return sum("FROM jobs" in s for s in self.statements)

    def writes(self) -> list[str]:
        with self._lock:
            return [
                s
                for s in self.statements
                if any(word in s.upper() for word in ("UPDATE", "INSERT", "DELETE"))
            ]


async def _run_pool(rt: Runtime, until: Any, concurrency: int = 4) -> None:
    stop = asyncio.Event()
    pool = WorkerPool(rt, concurrency=concurrency)
    task = asyncio.create_task(pool.run(stop))
    try:
        while not await asyncio.to_thread(until):
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        rt.notifier.notify()
        await asyncio.wait_for(task, 10)


def test_an_idle_worker_pool_opens_no_write_transaction(runtime: Runtime):
    with SqlLog(runtime) as log:
        asyncio.run(_run_pool(runtime, lambda: log.polls() >= 20))
    assert log.writes() == []
    assert log.write_begins == 0


def test_an_idle_reaper_opens_no_write_transaction(runtime: Runtime):
    with SqlLog(runtime) as log:
        for _ in range(5):
            assert reap_once(runtime) == 0
    assert log.polls() >= 5
    assert log.writes() == []
    assert log.write_begins == 0


def test_a_job_enqueued_in_this_process_wakes_an_idle_pool_at_once(
    tmp_path: Path, database_url: str
):
    # Polling once an hour: only the notifier can start the job within the test's patience.
    rt = build_runtime(
        make_settings(tmp_path / "data", database_url, 1, job_poll_seconds=3600),
        driver=ScriptedDriver(),
    )
    record = tmp_path / "runs.txt"

    async def scenario() -> str:
        stop = asyncio.Event()
        pool = WorkerPool(rt, concurrency=2)
        task = asyncio.create_task(pool.run(stop))
        await asyncio.sleep(0.2)  # the pool has looked, found nothing and gone to sleep
        with rt.db.session() as session:
            job_id = queue.enqueue(session, "noop", payload={"record": str(record)}).id
            session.commit()
        rt.notifier.notify()
        try:
            await asyncio.to_thread(
                wait_until, lambda: record.exists(), timeout=30, message="the job ran"
            )
        finally:
            stop.set()
            rt.notifier.notify()
            await asyncio.wait_for(task, 10)
        return job_id

    try:
        job_id = asyncio.run(scenario())
    finally:
        rt.close_sync()
    assert record.read_text().split() == [job_id]


def test_acquire_many_gives_each_due_job_to_one_slot(runtime: Runtime):
    db = runtime.db
    with db.session() as session:
        ids = [queue.enqueue(session, "noop").id for _ in range(5)]
        queue.enqueue(session, "noop", delay_seconds=3600)  # not due
        session.commit()
    first = queue.acquire_many(db, ["w/0", "w/1", "w/2"])
    second = queue.acquire_many(db, ["w/3", "w/4", "w/5"])
    third = queue.acquire_many(db, ["w/6"])
    taken = [job.id for job, _slot in first + second]
    assert sorted(taken) == sorted(ids)
    assert [slot for _job, slot in first] == ["w/0", "w/1", "w/2"]
    assert [slot for _job, slot in second] == ["w/3", "w/4"]
    assert third == []
    with db.read_session() as session:
        rows = session.exec(select(Job).where(col(Job.id).in_(ids))).all()
    assert {(r.id, r.state, r.attempts) for r in rows} == {(i, "running", 1) for i in ids}
    assert {r.worker_id for r in rows} == {"w/0", "w/1", "w/2", "w/3", "w/4"}


def test_a_write_session_left_without_commit_frees_the_write_lock(runtime: Runtime):
    db = runtime.db
    with db.session() as session:
        session.execute(text("CREATE TABLE scratch (n INTEGER)"))
        session.commit()
    with pytest.raises(RuntimeError), db.session() as session:
        session.execute(text("INSERT INTO scratch VALUES (1)"))
        raise RuntimeError("the handler failed mid-transaction")
    with db.session() as session:
        session.execute(text("INSERT INTO scratch VALUES (2)"))  # the transaction is left open
    written: list[int] = []

    def writer() -> None:  # another thread: would wait for a leaked lock, then fail
        with db.session() as session:
            session.execute(text("INSERT INTO scratch VALUES (3)"))
            session.commit()
            written.append(3)

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join(60)
    assert written == [3]
    with db.read_session() as session:
        assert session.execute(text("SELECT n FROM scratch")).scalars().all() == [3]


def test_progress_reported_on_the_event_loop_does_not_wait_for_the_write_lock(runtime: Runtime):
    if not runtime.db.is_sqlite:
        pytest.skip("PostgreSQL has row locks: a progress insert never waits for a desk update")
    with runtime.db.session() as session:
        user = User(name="progress")
        session.add(user)
        session.commit()
        body = DeskCreate(
            name="progress", provider="openai", api_key=SecretStr("sk-x" * 8), model="m"
        )
        desk_id = Desks(session, user, runtime.escrow, "scripted").create(body).id
    holding, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def holder() -> None:  # holds SQLite's write lock until the loop says so (or gives up)
        with runtime.db.session() as session:
            session.execute(text("UPDATE desks SET model = model"))
            holding.set()
            released.append(release.wait(30))
            session.commit()

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait(30)

    async def scenario() -> None:
        report = Progress(runtime, desk_id)
        report("step one")  # returns at once: the write waits off the loop
        release.set()
        await report.flush()

    asyncio.run(scenario())
    thread.join(60)
    assert released == [True]
    with runtime.db.read_session() as session:
        messages = session.exec(
            select(DeskEvent.message).where(
                DeskEvent.desk_id == desk_id, DeskEvent.kind == "progress"
            )
        ).all()
    assert list(messages) == ["step one"]
