"""A small document store over the ``objects`` table: OpenAI objects kept as JSON bodies.

Each object has a kind (``assistant``, ``thread``, ``thread.message``, ``thread.run``, ...), an
optional parent id (the thread of a message, the run of a step), and an insertion sequence that
orders lists and resolves ``after``/``before`` cursors. Extensions may store their own kinds here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from bureau_agent.api.errors import invalid
from bureau_agent.api.pagination import ListPage, PageParams
from bureau_agent.store.db import Database

Doc = dict[str, Any]


def _dump(doc: Doc) -> str:
    return json.dumps(doc, separators=(",", ":"))


def _load(row: sqlite3.Row) -> Doc:
    body: Doc = json.loads(row["body"])
    return body


class DocumentStore:
    """CRUD and cursor pagination for JSON objects; every call is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(
        self, kind: str, doc: Doc, *, parent: str | None = None, run_id: str | None = None
    ) -> Doc:
        body = json.dumps(doc, separators=(",", ":"))

        def _insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO objects(id, kind, parent, run_id, status, body) VALUES (?,?,?,?,?,?)",
                (doc["id"], kind, parent, run_id, doc.get("status"), body),
            )

        await self.db.run(_insert)
        return doc

    async def insert_many(self, kind: str, docs: list[Doc], *, parent: str | None = None) -> None:
        rows = [
            (d["id"], kind, parent, d.get("run_id"), d.get("status"), json.dumps(d)) for d in docs
        ]

        def _insert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO objects(id, kind, parent, run_id, status, body) VALUES (?,?,?,?,?,?)",
                rows,
            )

        await self.db.run(_insert)

    async def get(self, kind: str, object_id: str, *, parent: str | None = None) -> Doc | None:
        def _get(conn: sqlite3.Connection) -> Doc | None:
            if parent is None:
                row = conn.execute(
                    "SELECT body FROM objects WHERE id=? AND kind=?", (object_id, kind)
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT body FROM objects WHERE id=? AND kind=? AND parent=?",
                    (object_id, kind, parent),
                ).fetchone()
            return _load(row) if row else None

        return await self.db.run(_get)

    async def update(self, kind: str, object_id: str, mutate: Callable[[Doc], None]) -> Doc | None:
        """Read, ``mutate`` in place and write back, atomically. None when absent."""

        def _update(conn: sqlite3.Connection) -> Doc | None:
            row = conn.execute(
                "SELECT body FROM objects WHERE id=? AND kind=?", (object_id, kind)
            ).fetchone()
            if row is None:
                return None
            doc = _load(row)
            mutate(doc)
            conn.execute(
                "UPDATE objects SET body=?, status=? WHERE id=?",
                (json.dumps(doc, separators=(",", ":")), doc.get("status"), object_id),
            )
            return doc

        return await self.db.run(_update)

    def insert_later(
        self, kind: str, doc: Doc, *, parent: str | None = None, run_id: str | None = None
    ) -> None:
        """``insert`` without waiting (ordered before any later read: ``Database.run_later``)."""
        row = (doc["id"], kind, parent, run_id, doc.get("status"), _dump(doc))
        self.db.run_later(
            lambda conn: conn.execute(
                "INSERT INTO objects(id, kind, parent, run_id, status, body) VALUES (?,?,?,?,?,?)",
                row,
            )
        )

    def replace_later(self, kind: str, doc: Doc) -> None:
        """``replace`` without waiting; the body is serialized now, so later edits don't leak."""
        row = (_dump(doc), doc.get("status"), doc["id"], kind)
        self.db.run_later(
            lambda conn: conn.execute(
                "UPDATE objects SET body=?, status=? WHERE id=? AND kind=?", row
            )
        )

    async def replace(self, kind: str, doc: Doc) -> None:
        def _replace(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE objects SET body=?, status=? WHERE id=? AND kind=?",
                (json.dumps(doc, separators=(",", ":")), doc.get("status"), doc["id"], kind),
            )

        await self.db.run(_replace)

    async def delete(self, kind: str, object_id: str, *, parent: str | None = None) -> bool:
        def _delete(conn: sqlite3.Connection) -> bool:
            if parent is None:
                cur = conn.execute("DELETE FROM objects WHERE id=? AND kind=?", (object_id, kind))
            else:
                cur = conn.execute(
                    "DELETE FROM objects WHERE id=? AND kind=? AND parent=?",
                    (object_id, kind, parent),
                )
            return cur.rowcount > 0

        return await self.db.run(_delete)

    async def delete_children(self, kind: str, parent: str) -> None:
        def _delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM objects WHERE kind=? AND parent=?", (kind, parent))

        await self.db.run(_delete)

    async def all_children(self, kind: str, parent: str) -> list[Doc]:
        """Every child in insertion order (a thread's messages for a run's prompt)."""

        def _all(conn: sqlite3.Connection) -> list[Doc]:
            rows = conn.execute(
                "SELECT body FROM objects WHERE kind=? AND parent=? ORDER BY seq", (kind, parent)
            ).fetchall()
            return [_load(r) for r in rows]

        return await self.db.run(_all)

    async def with_status(self, kind: str, statuses: list[str]) -> list[Doc]:
        marks = ",".join("?" for _ in statuses)

        def _find(conn: sqlite3.Connection) -> list[Doc]:
            rows = conn.execute(
                f"SELECT body FROM objects WHERE kind=? AND status IN ({marks}) ORDER BY seq",  # noqa: S608
                (kind, *statuses),
            ).fetchall()
            return [_load(r) for r in rows]

        return await self.db.run(_find)

    async def list_page(
        self,
        kind: str,
        page: PageParams,
        *,
        parent: str | None = None,
        run_id: str | None = None,
    ) -> ListPage:
        """One page in OpenAI's semantics (``after`` moves away from the start of ``order``)."""

        def _list(conn: sqlite3.Connection) -> ListPage:
            where = ["kind=?"]
            args: list[Any] = [kind]
            if parent is not None:
                where.append("parent=?")
                args.append(parent)
            if run_id is not None:
                where.append("run_id=?")
                args.append(run_id)
            desc = page.order == "desc"
            for name, cursor in (("after", page.after), ("before", page.before)):
                if cursor is None:
                    continue
                row = conn.execute(
                    "SELECT seq FROM objects WHERE id=? AND kind=?", (cursor, kind)
                ).fetchone()
                if row is None:
                    raise invalid(name, f"Invalid '{name}': no object with id '{cursor}'.")
                forward = (name == "after") != desc
                where.append("seq > ?" if forward else "seq < ?")
                args.append(row["seq"])
            # Walk from the cursor side: "before" reads backwards, then flips.
            backwards = page.before is not None and page.after is None
            ascending = (not desc) != backwards
            sql = (
                f"SELECT body FROM objects WHERE {' AND '.join(where)} "  # noqa: S608
                f"ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT ?"
            )
            rows = conn.execute(sql, (*args, page.limit + 1)).fetchall()
            docs = [_load(r) for r in rows]
            has_more = len(docs) > page.limit
            docs = docs[: page.limit]
            if backwards:
                docs.reverse()
            return ListPage(docs, has_more)

        return await self.db.run(_list)
