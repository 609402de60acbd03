"""Alembic is the only way the schema changes: the migrated database matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import orchestrator.models  # noqa: F401  (registers the tables)
from orchestrator.db import Database
from orchestrator.migrate import upgrade


def test_migrations_match_the_models(database_url: str):
    db = Database(database_url)
    upgrade(db)
    upgrade(db)  # idempotent: a second start changes nothing
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    db.dispose()
    assert diff == []


def test_sqlite_runs_in_wal_mode(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    db.dispose()
    assert mode == "wal"
