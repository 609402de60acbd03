"""Database engines and sessions: SQLite (WAL, one writer at a time) or PostgreSQL (psycopg 3).

On SQLite, pysqlite's implicit transactions are replaced by explicit ones: the write engine opens
every transaction with ``BEGIN IMMEDIATE`` so that writers queue on SQLite's lock (busy_timeout)
instead of failing when a read transaction tries to upgrade; the read engine uses plain ``BEGIN``
so readers never wait (WAL). On PostgreSQL both are the same engine.

Inside one process, SQLite writers also queue on a ``threading.Lock`` taken just before
``BEGIN IMMEDIATE`` and released right after ``COMMIT``/``ROLLBACK``. Without it, threads that find
the database locked sleep in SQLite's busy handler (1, 2, 5, ... up to 100 ms between retries) and
are not woken when the lock frees: under load most of a request's time was such sleeps. With it,
the next writer starts the moment the previous one ends; SQLite's own lock (busy_timeout) still
arbitrates between processes (``bureau worker`` beside ``bureau serve``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

_LOCK_TIMEOUT = 30.0
_HOLDS_LOCK = "bureau_write_lock"


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": _LOCK_TIMEOUT},
        pool_size=8,
        max_overflow=32,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    if not immediate:

        @event.listens_for(engine, "begin")
        def _on_begin_read(conn: Any) -> None:
            conn.connection.dbapi_connection.execute("BEGIN")  # straight to pysqlite: cheaper

        return engine
    _install_write_lock(engine)
    return engine


def _install_write_lock(engine: Engine) -> None:
    """Serialize this engine's write transactions on a process-wide mutex (see the module doc)."""
    lock = threading.Lock()

    def release(info: dict[str, Any]) -> None:
        if info.pop(_HOLDS_LOCK, False):
            lock.release()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not lock.acquire(timeout=_LOCK_TIMEOUT):
            raise sqlite3.OperationalError("database is locked (waited for this process's writers)")
        conn.info[_HOLDS_LOCK] = True
        try:
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            release(conn.info)
            raise

    # SQLAlchemy fires these before it calls the DBAPI's commit()/rollback(). End the transaction
    # here, then let the next writer in; the DBAPI call that follows finds no transaction (no-op).
    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        try:
            conn.connection.dbapi_connection.commit()
        finally:
            release(conn.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Any) -> None:
        try:
            conn.connection.dbapi_connection.rollback()
        finally:
            release(conn.info)

    # Safety nets: a connection that goes back to the pool (or away) never keeps the mutex.
    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi_conn: Any, record: Any, _state: Any) -> None:
        release(record.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        release(record.info)

    @event.listens_for(engine, "close")
    def _on_close(_dbapi_conn: Any, record: Any) -> None:
        release(record.info)


class Database:
    """The engines of one database URL; built in the app factory (or a worker), never at import.

    ``inline_reads``: short reads (the API's GETs) may run on the event loop instead of a worker
    thread. True on SQLite only: a WAL reader never waits for writers or the network, and the
    thread would hold the GIL for the whole ORM work anyway, so the hop only added cost (GET
    /v1/desks/{id} at 50 clients: 1.9 ms of server CPU per request with the hop, 1.2 without).
    PostgreSQL reads wait for the network and the pool: they stay in the threadpool.
    """

    inline_reads: bool

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = _sqlite_engine(url, immediate=False)
            self.write_engine = _sqlite_engine(url, immediate=True)
            self.inline_reads = True
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=40, pool_pre_ping=True)
            self.write_engine = self.engine
            self.inline_reads = False

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session for work that writes (commit explicitly)."""
        with Session(self.write_engine, expire_on_commit=False) as session:
            yield session

    @contextlib.contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads only; never waits for writers on SQLite."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()
