"""OpenAI's JSON shapes for vector stores, vector store files and file batches."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from bureau_agent.vector_stores import repository as repo

DAY = 86_400


def expiry(row: sqlite3.Row) -> int | None:
    """When the store expires (``expires_after`` days after its last activity), if ever."""
    days = row["expires_after_days"]
    return int(row["last_active_at"] + days * DAY) if days else None


def is_expired(row: sqlite3.Row, now: int) -> bool:
    expires_at = expiry(row)
    return expires_at is not None and expires_at <= now


def store_api(conn: sqlite3.Connection, row: sqlite3.Row, now: int) -> dict[str, Any]:
    counts = repo.counts(conn, "vector_store_id", row["id"])
    days = row["expires_after_days"]
    expires_at = expiry(row)
    if is_expired(row, now):
        status = "expired"
    elif counts["in_progress"]:
        status = "in_progress"
    else:
        status = "completed"
    return {
        "id": row["id"],
        "object": "vector_store",
        "created_at": row["created_at"],
        "name": row["name"],
        "description": row["description"],
        "usage_bytes": repo.usage_bytes(conn, row["id"]),
        "file_counts": counts,
        "status": status,
        "expires_after": {"anchor": "last_active_at", "days": days} if days else None,
        "expires_at": expires_at,
        "last_active_at": row["last_active_at"],
        "metadata": json.loads(row["metadata"]),
    }


def file_api(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["file_id"],
        "object": "vector_store.file",
        "usage_bytes": row["usage_bytes"],
        "created_at": row["created_at"],
        "vector_store_id": row["vector_store_id"],
        "status": row["status"],
        "last_error": json.loads(row["last_error"]) if row["last_error"] else None,
        "chunking_strategy": json.loads(row["chunking"]),
        "attributes": json.loads(row["attributes"]),
    }


def batch_api(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    counts = repo.counts(conn, "batch_id", row["id"])
    if counts["in_progress"]:
        status = "in_progress"
    elif row["cancelled"]:
        status = "cancelled"
    elif counts["total"] and counts["failed"] == counts["total"]:
        status = "failed"
    else:
        status = "completed"
    return {
        "id": row["id"],
        "object": "vector_store.files_batch",
        "created_at": row["created_at"],
        "vector_store_id": row["vector_store_id"],
        "status": status,
        "file_counts": counts,
    }
