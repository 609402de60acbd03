"""Vector store metadata in the agent's SQLite: stores, their files, and file batches.

Counts, ``usage_bytes`` and statuses are computed from the rows on every read, so they are
always true (no counters to drift).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS vector_stores (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    description TEXT,
    created_at INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL,
    expires_after_days INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS vector_store_files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    vector_store_id TEXT NOT NULL REFERENCES vector_stores(id) ON DELETE CASCADE,
    file_id TEXT NOT NULL,
    batch_id TEXT,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    last_error TEXT,
    usage_bytes INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    attributes TEXT NOT NULL DEFAULT '{}',
    chunking TEXT NOT NULL,
    UNIQUE(vector_store_id, file_id)
);
CREATE INDEX IF NOT EXISTS vsf_store ON vector_store_files(vector_store_id, status, seq);
CREATE INDEX IF NOT EXISTS vsf_file ON vector_store_files(file_id);
CREATE INDEX IF NOT EXISTS vsf_batch ON vector_store_files(batch_id, status);
CREATE TABLE IF NOT EXISTS vector_store_file_batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    vector_store_id TEXT NOT NULL REFERENCES vector_stores(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    cancelled INTEGER NOT NULL DEFAULT 0
);
"""

STATUSES = ("in_progress", "completed", "failed", "cancelled")


def empty_counts() -> dict[str, int]:
    return {s: 0 for s in (*STATUSES, "total")}


def store_row(conn: sqlite3.Connection, store_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM vector_stores WHERE id = ?", (store_id,)
    ).fetchone()
    return row


def counts(conn: sqlite3.Connection, column: str, value: str) -> dict[str, int]:
    """File counts by status for a store (``column='vector_store_id'``) or a batch."""
    out = empty_counts()
    rows = conn.execute(
        f"SELECT status, COUNT(*) AS n FROM vector_store_files WHERE {column} = ? "  # noqa: S608
        "GROUP BY status",
        (value,),
    )
    for row in rows:
        out[row["status"]] = row["n"]
        out["total"] += row["n"]
    return out


def chunk_share(conn: sqlite3.Connection, store_ids: Sequence[str]) -> float:
    """The stores' share of all indexed chunks (0 when nothing is indexed)."""
    total = conn.execute("SELECT COALESCE(SUM(chunks), 0) AS n FROM vector_store_files").fetchone()
    if not total["n"]:
        return 0.0
    marks = ",".join("?" * len(store_ids))
    mine = conn.execute(
        "SELECT COALESCE(SUM(chunks), 0) AS n FROM vector_store_files "  # noqa: S608
        f"WHERE vector_store_id IN ({marks})",
        list(store_ids),
    ).fetchone()
    return float(mine["n"]) / float(total["n"])


def usage_bytes(conn: sqlite3.Connection, store_id: str) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(usage_bytes), 0) AS n FROM vector_store_files "
        "WHERE vector_store_id = ?",
        (store_id,),
    ).fetchone()
    return int(row["n"])


def insert_store(
    conn: sqlite3.Connection,
    store_id: str,
    *,
    name: str,
    description: str | None,
    now: int,
    expires_after_days: int | None,
    metadata: dict[str, Any],
) -> None:
    conn.execute(
        "INSERT INTO vector_stores(id, name, description, created_at, last_active_at, "
        "expires_after_days, metadata) VALUES (?,?,?,?,?,?,?)",
        (store_id, name, description, now, now, expires_after_days, json.dumps(metadata)),
    )


def touch(conn: sqlite3.Connection, store_ids: Sequence[str], now: int) -> None:
    conn.executemany(
        "UPDATE vector_stores SET last_active_at = ? WHERE id = ?", [(now, s) for s in store_ids]
    )


def attach_files(
    conn: sqlite3.Connection,
    store_id: str,
    files: Sequence[tuple[str, dict[str, Any]]],
    *,
    chunking: dict[str, Any],
    now: int,
    batch_id: str | None,
) -> list[str]:
    """Add (file id, attributes) pairs as ``in_progress``; a pair already there is re-queued
    (its previous chunks are replaced). Returns the file ids to ingest."""
    chunking_json = json.dumps(chunking)
    conn.executemany(
        "INSERT INTO vector_store_files(vector_store_id, file_id, batch_id, created_at, status, "
        "attributes, chunking) VALUES (?,?,?,?,'in_progress',?,?) "
        "ON CONFLICT(vector_store_id, file_id) DO UPDATE SET status='in_progress', "
        "last_error=NULL, batch_id=excluded.batch_id, attributes=excluded.attributes, "
        "chunking=excluded.chunking",
        [(store_id, fid, batch_id, now, json.dumps(attrs), chunking_json) for fid, attrs in files],
    )
    return [fid for fid, _ in files]


def file_row(conn: sqlite3.Connection, store_id: str, file_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM vector_store_files WHERE vector_store_id = ? AND file_id = ?",
        (store_id, file_id),
    ).fetchone()
    return row


def finish_file(
    conn: sqlite3.Connection,
    store_id: str,
    file_id: str,
    *,
    status: str,
    usage: int = 0,
    chunks: int = 0,
    error: dict[str, str] | None = None,
) -> bool:
    """Move an ``in_progress`` file to its final status; False if it was cancelled or removed."""
    cursor = conn.execute(
        "UPDATE vector_store_files SET status = ?, usage_bytes = ?, chunks = ?, last_error = ? "
        "WHERE vector_store_id = ? AND file_id = ? AND status = 'in_progress'",
        (status, usage, chunks, json.dumps(error) if error else None, store_id, file_id),
    )
    return cursor.rowcount > 0


def in_progress(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT vector_store_id, file_id FROM vector_store_files WHERE status = 'in_progress' "
        "ORDER BY seq"
    )
    return [(r["vector_store_id"], r["file_id"]) for r in rows]


def stores_of_file(conn: sqlite3.Connection, file_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT vector_store_id FROM vector_store_files WHERE file_id = ?", (file_id,)
    )
    return [r["vector_store_id"] for r in rows]


def file_attributes(
    conn: sqlite3.Connection, store_ids: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    marks = ",".join("?" * len(store_ids))
    rows = conn.execute(
        f"SELECT file_id, attributes FROM vector_store_files WHERE vector_store_id IN ({marks}) "  # noqa: S608
        "AND status = 'completed'",
        list(store_ids),
    )
    return [(r["file_id"], json.loads(r["attributes"])) for r in rows]
