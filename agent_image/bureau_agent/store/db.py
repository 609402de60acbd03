"""SQLite access from async code: one connection, one worker thread, WAL.

Every statement runs on a single dedicated thread (sqlite3 connections are not shared across
threads), so callers ``await db.run(fn)`` with a plain function of the connection. Extensions
(files, vector stores, memory) register their own schema with ``add_schema`` before ``open``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

_CORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    parent TEXT,
    run_id TEXT,
    status TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_kind_parent ON objects(kind, parent, seq);
CREATE INDEX IF NOT EXISTS objects_status ON objects(kind, status);
"""


def _log_failure(future: Future[object]) -> None:
    error = future.exception()
    if error is not None:
        log.error("queued database write failed: %r", error)


class Database:
    """The agent's SQLite file; ``run`` executes a function of the connection on its thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._schemas: list[str] = [_CORE_SCHEMA]
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None

    def add_schema(self, sql: str) -> None:
        """Register ``CREATE ... IF NOT EXISTS`` statements applied at ``open``."""
        self._schemas.append(sql)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        for sql in self._schemas:
            conn.executescript(sql)
        os.chmod(self.path, 0o600)
        self._conn = conn

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._open)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            raise RuntimeError("database is not open")
        conn = self._conn
        conn.execute("BEGIN")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in one transaction on the database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn)

    def run_later(self, fn: Callable[[sqlite3.Connection], object]) -> None:
        """Queue ``fn`` without waiting (the run loop's writes).

        Statements run in submission order on the one database thread, so any later ``run``
        (a client reading a step) sees this write. Failures are logged; ``close`` drains the queue.
        """
        future = self._executor.submit(self._call, fn)
        future.add_done_callback(_log_failure)

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Blocking variant for startup code and CLI commands."""
        return self._executor.submit(self._call, fn).result()

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)
