"""Vector stores, their files and batches: the API's behaviour over SQLite + LanceDB."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from bureau_agent.api.pagination import ListPage, PageParams
from bureau_agent.api.validation import check_metadata
from bureau_agent.files.extract import extract_text
from bureau_agent.files.service import FileService
from bureau_agent.ids import new_id
from bureau_agent.retrieval.chunking import ChunkingStrategy
from bureau_agent.retrieval.chunks import ChunkStore
from bureau_agent.retrieval.errors import ExtractionError, InvalidRequest, NotFound
from bureau_agent.retrieval.filters import parse_filter
from bureau_agent.retrieval.search import SearchEngine, SearchOutcome, SearchRequest
from bureau_agent.retrieval.sql_pages import page_rows
from bureau_agent.store.db import Database
from bureau_agent.vector_stores import repository as repo
from bureau_agent.vector_stores import validation as v
from bureau_agent.vector_stores.ingest import Ingestor
from bureau_agent.vector_stores.shapes import file_api, is_expired, store_api

SHARE_TTL = 10
"""Seconds a store's chunk share (a planning hint for the search) is reused while no chunk is
written; it costs a scan of the store's files in SQLite."""


class VectorStoreService:
    def __init__(
        self,
        db: Database,
        files: FileService,
        chunks: ChunkStore,
        engine: SearchEngine,
        ingestor: Ingestor,
        now: Callable[[], int],
    ) -> None:
        self.db = db
        self.files = files
        self.chunks = chunks
        self.engine = engine
        self.ingestor = ingestor
        self.now = now
        self._shares: dict[tuple[str, ...], tuple[int, int, float]] = {}
        """The searched stores' chunk share by store ids: (chunk generation, time, share)."""
        files.on_delete.append(self.detach_everywhere)

    # --- stores ---------------------------------------------------------------------------

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = v.optional_str(body, "name", v.MAX_NAME) or ""
        description = v.optional_str(body, "description", v.MAX_DESCRIPTION)
        metadata = body.get("metadata") or {}
        check_metadata(v.check_object(metadata, "metadata"))
        days = v.expires_after(body.get("expires_after"))
        ids = v.file_ids(body.get("file_ids"))
        strategy = ChunkingStrategy.parse(body.get("chunking_strategy"))
        await self.check_files_exist(ids, "file_ids")
        store_id = new_id("vs")
        now = self.now()

        def _create(conn: sqlite3.Connection) -> list[str]:
            repo.insert_store(
                conn, store_id, name=name, description=description, now=now,
                expires_after_days=days, metadata=metadata,
            )  # fmt: skip
            files: list[tuple[str, dict[str, Any]]] = [(fid, {}) for fid in ids]
            return repo.attach_files(
                conn, store_id, files, chunking=strategy.to_api(), now=now, batch_id=None
            )

        queued = await self.db.run(_create)
        self.ingestor.submit(store_id, queued)
        return await self.get(store_id)

    async def create_inline(self, spec: dict[str, Any]) -> str:
        """``tool_resources.file_search.vector_stores[]`` helper: create and return the id."""
        return str((await self.create(spec))["id"])

    async def get(self, store_id: str) -> dict[str, Any]:
        now = self.now()

        def _get(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = repo.store_row(conn, store_id)
            return store_api(conn, row, now) if row else None

        found = await self.db.run(_get)
        if found is None:
            raise NotFound(f"No vector store found with id '{store_id}'.", "vector_store_id")
        return found

    async def list_page(self, page: PageParams) -> dict[str, Any]:
        now = self.now()

        def _list(conn: sqlite3.Connection) -> ListPage:
            rows, has_more = page_rows(conn, "vector_stores", "1 = 1", [], page)
            return ListPage([store_api(conn, r, now) for r in rows], has_more)

        return (await self.db.run(_list)).body()

    async def update(self, store_id: str, body: dict[str, Any]) -> dict[str, Any]:
        await self.get(store_id)
        sets: dict[str, Any] = {}
        if "name" in body:
            sets["name"] = v.optional_str(body, "name", v.MAX_NAME) or ""
        if "metadata" in body:
            metadata = body["metadata"] or {}
            check_metadata(v.check_object(metadata, "metadata"))
            sets["metadata"] = json.dumps(metadata)
        if "expires_after" in body:
            sets["expires_after_days"] = v.expires_after(body["expires_after"])
        sets["last_active_at"] = self.now()

        def _update(conn: sqlite3.Connection) -> None:
            assignments = ", ".join(f"{k} = ?" for k in sets)
            conn.execute(
                f"UPDATE vector_stores SET {assignments} WHERE id = ?",  # noqa: S608
                [*sets.values(), store_id],
            )

        await self.db.run(_update)
        return await self.get(store_id)

    async def delete(self, store_id: str) -> dict[str, Any]:
        await self.get(store_id)
        await self.db.run(
            lambda c: c.execute("DELETE FROM vector_stores WHERE id = ?", (store_id,))
        )
        await self.chunks.delete_store(store_id)
        return {"id": store_id, "object": "vector_store.deleted", "deleted": True}

    # --- search ---------------------------------------------------------------------------

    async def search(self, store_id: str, body: dict[str, Any]) -> dict[str, Any]:
        queries = v.queries(body.get("query"))
        limit = v.max_num_results(body.get("max_num_results"))
        ranker, threshold = v.ranking_options(body.get("ranking_options"))
        rewrite = body.get("rewrite_query", False)
        if not isinstance(rewrite, bool):
            raise InvalidRequest("Invalid 'rewrite_query': expected a boolean.", "rewrite_query")
        predicate = parse_filter(body["filters"]) if body.get("filters") is not None else None
        outcome = await self.run_search(
            [store_id], queries, limit, threshold, ranker, rewrite, predicate
        )
        names = await self.filenames({r.file_id for r in outcome.results})
        return {
            "object": "vector_store.search_results.page",
            "search_query": outcome.search_queries,
            "data": [
                {
                    "file_id": r.file_id,
                    "filename": names.get(r.file_id, ""),
                    "score": r.score,
                    "attributes": json.loads(r.attributes),
                    "content": [{"type": "text", "text": r.text}],
                }
                for r in outcome.results
            ],
            "has_more": False,
            "next_page": None,
            "search_metadata": {"mode": outcome.mode, "notes": outcome.notes},
        }

    async def run_search(
        self,
        store_ids: list[str],
        queries: list[str],
        limit: int,
        threshold: float = 0.0,
        ranker: str = "auto",
        rewrite: bool = False,
        predicate: Callable[[Any], bool] | None = None,
    ) -> SearchOutcome:
        """Search live stores (404 unknown, 400 expired), touching ``last_active_at``.

        One database round trip before the search: the stores' rows (not the API shape, whose
        file counts and usage scan every file of the store), the attributes when filtering,
        the touch, and the stores' chunk share unless cached for the current chunk data.
        """
        now = self.now()
        key = tuple(store_ids)
        cached = self._shares.get(key)
        generation = self.chunks.generation
        fresh = cached is not None and cached[0] == generation and now - cached[1] < SHARE_TTL

        def _prepare(
            conn: sqlite3.Connection,
        ) -> tuple[Exception | None, list[tuple[str, dict[str, Any]]] | None, float]:
            for store_id in store_ids:
                row = repo.store_row(conn, store_id)
                if row is None:
                    missing = f"No vector store found with id '{store_id}'."
                    return NotFound(missing, "vector_store_id"), None, 0.0
                if is_expired(row, now):
                    expired = f"Vector store {store_id} has expired."
                    return InvalidRequest(expired, "vector_store_id"), None, 0.0
            pairs = repo.file_attributes(conn, store_ids) if predicate is not None else None
            repo.touch(conn, store_ids, now)
            share = cached[2] if fresh and cached else repo.chunk_share(conn, store_ids)
            return None, pairs, share

        error, pairs, share = await self.db.run(_prepare)
        if error is not None:
            raise error
        if not fresh:
            if len(self._shares) >= 256:
                self._shares.clear()
            self._shares[key] = (generation, now, share)
        file_ids: list[str] | None = None
        if predicate is not None and pairs is not None:
            file_ids = sorted({fid for fid, attrs in pairs if predicate(attrs)})
        request = SearchRequest(
            store_ids, queries, limit, threshold, rewrite, ranker, file_ids, share
        )
        return await self.engine.search(request)

    async def filenames(self, file_ids: set[str]) -> dict[str, str]:
        if not file_ids:
            return {}
        ids = sorted(file_ids)

        def _names(conn: sqlite3.Connection) -> dict[str, str]:
            marks = ",".join("?" * len(ids))
            rows = conn.execute(
                f"SELECT id, filename FROM files WHERE id IN ({marks})",  # noqa: S608
                ids,
            )
            return {r["id"]: r["filename"] for r in rows}

        return await self.db.run(_names)

    # --- files ----------------------------------------------------------------------------

    async def check_files_exist(self, ids: list[str], param: str) -> None:
        if not ids:
            return
        found = await self.files.existing(ids)
        missing = [fid for fid in ids if fid not in found]
        if missing:
            raise InvalidRequest(f"File not found: {missing[0]}.", param)

    async def check_capacity(self, store_id: str, adding: list[str]) -> None:
        def _count(conn: sqlite3.Connection) -> int:
            marks = ",".join("?" * len(adding)) or "''"
            row = conn.execute(
                "SELECT COUNT(*) AS n FROM vector_store_files WHERE vector_store_id = ? "  # noqa: S608
                f"AND file_id NOT IN ({marks})",
                [store_id, *adding],
            ).fetchone()
            return int(row["n"])

        if len(adding) > 900:  # SQLite's parameter limit: count everything, a little stricter
            existing = await self.db.run(lambda c: repo.counts(c, "vector_store_id", store_id))
            total = existing["total"] + len(adding)
        else:
            total = await self.db.run(_count) + len(adding)
        if total > v.MAX_FILES_PER_STORE:
            raise InvalidRequest(
                f"A vector store holds at most {v.MAX_FILES_PER_STORE} files.", "file_ids"
            )

    async def add_file(self, store_id: str, body: dict[str, Any]) -> dict[str, Any]:
        await self.get(store_id)
        file_id = body.get("file_id")
        if not isinstance(file_id, str) or not file_id:
            raise InvalidRequest("Missing required parameter: 'file_id'.", "file_id")
        attrs = v.attributes(body.get("attributes"))
        strategy = ChunkingStrategy.parse(body.get("chunking_strategy"))
        await self.check_files_exist([file_id], "file_id")
        await self.check_capacity(store_id, [file_id])
        now = self.now()
        await self.db.run(
            lambda c: repo.attach_files(
                c, store_id, [(file_id, attrs)], chunking=strategy.to_api(), now=now, batch_id=None
            )
        )
        self.ingestor.submit(store_id, [file_id])
        return await self.get_file(store_id, file_id)

    async def add_files(self, store_id: str, file_ids: list[str]) -> None:
        """Attach files (message attachments) to a store; files already in it stay as they are."""
        await self.get(store_id)
        ids = v.file_ids(file_ids)
        await self.check_files_exist(ids, "attachments")

        def _new(conn: sqlite3.Connection) -> list[str]:
            present = {r["file_id"] for r in conn.execute(
                "SELECT file_id FROM vector_store_files WHERE vector_store_id = ?", (store_id,)
            )}  # fmt: skip
            return [fid for fid in ids if fid not in present]

        fresh = await self.db.run(_new)
        if not fresh:
            return
        await self.check_capacity(store_id, fresh)
        now = self.now()
        chunking = ChunkingStrategy().to_api()
        await self.db.run(
            lambda c: repo.attach_files(
                c, store_id, [(f, {}) for f in fresh], chunking=chunking, now=now, batch_id=None
            )
        )
        self.ingestor.submit(store_id, fresh)

    async def get_file(self, store_id: str, file_id: str) -> dict[str, Any]:
        row = await self.db.run(lambda c: repo.file_row(c, store_id, file_id))
        if row is None:
            raise NotFound(
                f"No file found with id '{file_id}' in vector store '{store_id}'.", "file_id"
            )
        return file_api(row)

    async def list_files(
        self, store_id: str, page: PageParams, status: str | None, batch_id: str | None = None
    ) -> dict[str, Any]:
        await self.get(store_id)
        if status is not None and status not in repo.STATUSES:
            raise InvalidRequest(
                f"Invalid 'filter': expected one of {', '.join(repo.STATUSES)}.", "filter"
            )
        where = "vector_store_id = ?"
        args: list[Any] = [store_id]
        if status is not None:
            where += " AND status = ?"
            args.append(status)
        if batch_id is not None:
            where += " AND batch_id = ?"
            args.append(batch_id)

        def _list(conn: sqlite3.Connection) -> ListPage:
            rows, has_more = page_rows(conn, "vector_store_files", where, args, page, "file_id")
            return ListPage([file_api(r) for r in rows], has_more)

        return (await self.db.run(_list)).body()

    async def update_file(
        self, store_id: str, file_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        await self.get_file(store_id, file_id)
        if "attributes" not in body:
            raise InvalidRequest("Missing required parameter: 'attributes'.", "attributes")
        attrs = v.attributes(body["attributes"])
        await self.db.run(
            lambda c: c.execute(
                "UPDATE vector_store_files SET attributes = ? WHERE vector_store_id = ? "
                "AND file_id = ?",
                (json.dumps(attrs), store_id, file_id),
            )
        )
        await self.chunks.set_attributes(store_id, file_id, attrs)
        return await self.get_file(store_id, file_id)

    async def delete_file(self, store_id: str, file_id: str) -> dict[str, Any]:
        await self.get_file(store_id, file_id)
        await self.db.run(
            lambda c: c.execute(
                "DELETE FROM vector_store_files WHERE vector_store_id = ? AND file_id = ?",
                (store_id, file_id),
            )
        )
        await self.chunks.delete_file(store_id, file_id)
        return {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}

    async def detach_everywhere(self, file_id: str) -> None:
        """A deleted file leaves every vector store (counts and usage stay true)."""
        for store_id in await self.db.run(lambda c: repo.stores_of_file(c, file_id)):
            await self.delete_file(store_id, file_id)

    async def file_content(self, store_id: str, file_id: str) -> dict[str, Any]:
        await self.get_file(store_id, file_id)
        _, path = await self.files.content_path(file_id)
        filename = (await self.files.get_row(file_id)).filename
        try:
            text = await asyncio.to_thread(extract_text, filename, path)
        except ExtractionError as exc:
            raise InvalidRequest(exc.message, "file_id", code=exc.code) from None
        return {
            "object": "vector_store.file_content.page",
            "data": [{"type": "text", "text": text}],
            "has_more": False,
            "next_page": None,
        }
