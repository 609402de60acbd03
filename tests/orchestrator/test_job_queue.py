"""The job queue across processes: 4 ``bureau worker`` processes, 200 jobs, each run exactly once;
a worker killed with SIGKILL mid-job is noticed by the reaper and its job finishes elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from orchestrator.db import Database
from orchestrator.jobs import queue
from orchestrator.migrate import upgrade
from orchestrator.models import Job
from orchestrator.pki import Pki
from tests.helpers.wait import wait_until
from tests.orchestrator.conftest import postgres_database

BUREAU = Path(sys.executable).parent / "bureau"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def queue_db(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pg_template: str | None,
) -> Iterator[str]:
    """One database per backend for this module (the worker processes are shared too)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('queue') / 'bureau.db'}"
        return
    base = os.environ.get("BUREAU_TEST_DATABASE_URL")
    if not base or pg_template is None:
        pytest.skip("BUREAU_TEST_DATABASE_URL is not set")
    with postgres_database(base, pg_template) as url:
        yield url


@pytest.fixture(scope="module")
def workers(
    tmp_path_factory: pytest.TempPathFactory, queue_db: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Four ``bureau worker`` processes (the SIGKILL test runs last and kills one of them)."""
    database_url = queue_db
    tmp_path = tmp_path_factory.mktemp("workers")
    data_dir = tmp_path / "data"
    Pki(data_dir / "tls", ["localhost"])  # created once, before the workers race for it
    db = Database(database_url)
    upgrade(db)
    db.dispose()
    env = {
        **os.environ,
        "BUREAU_DATA_DIR": str(data_dir),
        "BUREAU_DATABASE_URL": database_url,
        "BUREAU_DRIVER": "scripted",
        "BUREAU_WORKER_CONCURRENCY": "4",
        "BUREAU_JOB_POLL_SECONDS": "0.05",
        "BUREAU_JOB_HEARTBEAT_SECONDS": "0.2",
        "BUREAU_JOB_STALE_SECONDS": "3",
        "BUREAU_RECONCILE_INTERVAL_SECONDS": "3600",
    }
    procs = [
        subprocess.Popen(
            [str(BUREAU), "worker"],
            env=env,
            stdout=open(tmp_path / f"worker{n}.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        for n in range(4)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _jobs(db: Database, ids: list[str]) -> list[Job]:
    with db.read_session() as session:
        return list(session.exec(select(Job).where(col(Job.id).in_(ids))).all())


@pytest.mark.slow
def test_200_jobs_run_exactly_once_on_4_worker_processes(
    workers: list[subprocess.Popen[bytes]], queue_db: str, tmp_path: Path
):
    database_url = queue_db
    record = tmp_path / "runs.txt"
    db = Database(database_url)
    with db.session() as session:
        ids = [
            queue.enqueue(session, "noop", payload={"record": str(record)}).id for _ in range(200)
        ]
        session.commit()
    wait_until(
        lambda: all(j.state == "done" for j in _jobs(db, ids)), timeout=120, message="200 jobs"
    )
    runs = Counter(record.read_text().split())
    jobs = _jobs(db, ids)
    db.dispose()
    assert runs == Counter(dict.fromkeys(ids, 1))
    assert {j.worker_id.split("/")[0] for j in jobs if j.worker_id} and all(
        j.attempts == 1 for j in jobs
    )
    assert all(p.poll() is None for p in workers)


@pytest.mark.slow
def test_job_of_a_killed_worker_is_reaped_and_completed_by_another(
    workers: list[subprocess.Popen[bytes]], queue_db: str, tmp_path: Path
):
    database_url = queue_db
    record = tmp_path / "runs.txt"
    db = Database(database_url)
    with db.session() as session:
        job_id = queue.enqueue(
            session,
            "noop",
            payload={"record": str(record), "sleep": 60, "sleep_attempts": 1},
        ).id
        session.commit()
    running = wait_until(
        lambda: next((j for j in _jobs(db, [job_id]) if j.state == "running"), None),
        timeout=60,
        message="job picked up",
    )
    assert running is not None
    first_worker = str(running.worker_id)
    pid = int(first_worker.split(":")[1])
    victim = next(p for p in workers if p.pid == pid)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    done = wait_until(
        lambda: next((j for j in _jobs(db, [job_id]) if j.state == "done"), None),
        timeout=60,
        message="job completed after the reaper re-queued it",
    )
    db.dispose()
    assert done is not None
    assert record.read_text().split() == [job_id]
    assert done.attempts == 2
    assert str(done.worker_id).split(":")[1] != str(pid)
