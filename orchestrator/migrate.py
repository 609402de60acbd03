"""Apply Alembic migrations programmatically (on start of ``bureau serve`` and ``bureau worker``).

Several processes may start at once: on PostgreSQL an advisory lock serializes them; on SQLite the
write engine's ``BEGIN IMMEDIATE`` does.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from orchestrator.db import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_ADVISORY_LOCK_ID = 0x42555245  # "BURE"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(db: Database) -> None:
    """Bring the schema to the latest revision."""
    config = alembic_config()
    with db.write_engine.begin() as connection:
        if not db.is_sqlite:
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
