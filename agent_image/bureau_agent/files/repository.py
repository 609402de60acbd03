"""The ``files`` table: one row per uploaded file; the bytes live under ``<data dir>/files/``."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS files_purpose ON files(purpose, seq);
"""


@dataclass(frozen=True)
class FileRow:
    id: str
    filename: str
    bytes: int
    purpose: str
    created_at: int
    expires_at: int | None

    @classmethod
    def of(cls, row: sqlite3.Row) -> FileRow:
        return cls(
            row["id"], row["filename"], row["bytes"], row["purpose"], row["created_at"],
            row["expires_at"],
        )  # fmt: skip

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


def insert(conn: sqlite3.Connection, row: FileRow) -> None:
    conn.execute(
        "INSERT INTO files(id, filename, bytes, purpose, created_at, expires_at) "
        "VALUES (?,?,?,?,?,?)",
        (row.id, row.filename, row.bytes, row.purpose, row.created_at, row.expires_at),
    )


def get(conn: sqlite3.Connection, file_id: str) -> FileRow | None:
    row = conn.execute("SELECT * FROM files WHERE id = ?", (file_id,)).fetchone()
    return FileRow.of(row) if row else None


def existing(conn: sqlite3.Connection, file_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(file_ids), 500):
        part = file_ids[start : start + 500]
        marks = ",".join("?" * len(part))
        rows = conn.execute(f"SELECT id FROM files WHERE id IN ({marks})", part)  # noqa: S608
        found.update(r["id"] for r in rows)
    return found


def delete(conn: sqlite3.Connection, file_id: str) -> bool:
    return conn.execute("DELETE FROM files WHERE id = ?", (file_id,)).rowcount > 0
