"""Cursor pagination over our own SQLite tables (``seq`` orders, object ids are cursors)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from bureau_agent.api.errors import invalid
from bureau_agent.api.pagination import PageParams


def page_rows(
    conn: sqlite3.Connection,
    table: str,
    where: str,
    args: Sequence[Any],
    page: PageParams,
    id_column: str = "id",
) -> tuple[list[sqlite3.Row], bool]:
    """Rows of ``table`` matching ``where`` after/before the cursor ids, and ``has_more``.

    ``table``, ``where`` and ``id_column`` are trusted SQL from our code; values go in ``args``.
    """
    clauses = [where]
    values = list(args)
    for cursor, name, cmp_desc, cmp_asc in (
        (page.after, "after", "<", ">"),
        (page.before, "before", ">", "<"),
    ):
        if cursor is None:
            continue
        row = conn.execute(
            f"SELECT seq FROM {table} WHERE {where} AND {id_column} = ?",  # noqa: S608
            [*args, cursor],
        ).fetchone()
        if row is None:
            raise invalid(name, f"Invalid '{name}': no object with id '{cursor}' in this list.")
        clauses.append(f"seq {cmp_desc if page.order == 'desc' else cmp_asc} ?")
        values.append(row["seq"])
    direction = "DESC" if page.order == "desc" else "ASC"
    if page.before is not None and page.after is None:
        direction = "ASC" if page.order == "desc" else "DESC"
    sql = (
        f"SELECT * FROM {table} WHERE {' AND '.join(clauses)} "  # noqa: S608
        f"ORDER BY seq {direction} LIMIT ?"
    )
    rows = conn.execute(sql, [*values, page.limit + 1]).fetchall()
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    if page.before is not None and page.after is None:
        rows.reverse()
    return rows, has_more
