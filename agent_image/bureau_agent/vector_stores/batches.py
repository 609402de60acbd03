"""File batches: many files attached at once, tracked and cancellable together."""

from __future__ import annotations

import sqlite3
from typing import Any

from bureau_agent.api.pagination import PageParams
from bureau_agent.ids import new_id
from bureau_agent.retrieval.chunking import ChunkingStrategy
from bureau_agent.retrieval.errors import Conflict, InvalidRequest, NotFound
from bureau_agent.vector_stores import repository as repo
from bureau_agent.vector_stores import validation as v
from bureau_agent.vector_stores.service import VectorStoreService
from bureau_agent.vector_stores.shapes import batch_api

MAX_BATCH_FILES = 10_000


class BatchService:
    def __init__(self, stores: VectorStoreService) -> None:
        self.stores = stores
        self.db = stores.db

    async def create(self, store_id: str, body: dict[str, Any]) -> dict[str, Any]:
        await self.stores.get(store_id)
        if body.get("file_ids") is not None and body.get("files") is not None:
            raise InvalidRequest("'file_ids' and 'files' are mutually exclusive.", "files")
        strategy = ChunkingStrategy.parse(body.get("chunking_strategy"))
        entries: list[tuple[str, dict[str, Any], ChunkingStrategy]] = []
        if body.get("files") is not None:
            files = body["files"]
            if not isinstance(files, list) or len(files) > MAX_BATCH_FILES:
                raise InvalidRequest(
                    f"Invalid 'files': expected an array of at most {MAX_BATCH_FILES} objects.",
                    "files",
                )
            for i, item in enumerate(files):
                p = f"files[{i}]"
                v.check_object(item, p)
                fid = item.get("file_id")
                if not isinstance(fid, str) or not fid:
                    raise InvalidRequest(
                        f"Missing required parameter: '{p}.file_id'.", f"{p}.file_id"
                    )
                attrs = v.attributes(item.get("attributes"), f"{p}.attributes")
                own = ChunkingStrategy.parse(
                    item.get("chunking_strategy"), f"{p}.chunking_strategy"
                )
                entries.append((fid, attrs, own))
        else:
            attrs = v.attributes(body.get("attributes"))
            ids = v.file_ids(body.get("file_ids"), limit=MAX_BATCH_FILES)
            entries = [(fid, attrs, strategy) for fid in ids]
        if not entries:
            raise InvalidRequest("Missing required parameter: 'file_ids'.", "file_ids")
        ids = list(dict.fromkeys(fid for fid, _, _ in entries))
        await self.stores.check_files_exist(ids, "file_ids")
        await self.stores.check_capacity(store_id, ids)
        batch_id = new_id("vsfb")
        now = self.stores.now()

        def _create(conn: sqlite3.Connection) -> list[str]:
            conn.execute(
                "INSERT INTO vector_store_file_batches(id, vector_store_id, created_at) "
                "VALUES (?,?,?)",
                (batch_id, store_id, now),
            )
            queued: list[str] = []
            for fid, attrs, own in entries:
                queued += repo.attach_files(
                    conn, store_id, [(fid, attrs)], chunking=own.to_api(), now=now,
                    batch_id=batch_id,
                )  # fmt: skip
            return queued

        self.stores.ingestor.submit(store_id, await self.db.run(_create))
        return await self.get(store_id, batch_id)

    async def get(self, store_id: str, batch_id: str) -> dict[str, Any]:
        def _get(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(
                "SELECT * FROM vector_store_file_batches WHERE id = ? AND vector_store_id = ?",
                (batch_id, store_id),
            ).fetchone()
            return batch_api(conn, row) if row else None

        found = await self.db.run(_get)
        if found is None:
            raise NotFound(f"No file batch found with id '{batch_id}'.", "batch_id")
        return found

    async def cancel(self, store_id: str, batch_id: str) -> dict[str, Any]:
        batch = await self.get(store_id, batch_id)
        if batch["status"] != "in_progress":
            raise Conflict(f"Cannot cancel a batch that is {batch['status']}.", "batch_id")

        def _cancel(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE vector_store_file_batches SET cancelled = 1 WHERE id = ?", (batch_id,)
            )
            conn.execute(
                "UPDATE vector_store_files SET status = 'cancelled' "
                "WHERE batch_id = ? AND status = 'in_progress'",
                (batch_id,),
            )

        await self.db.run(_cancel)
        return await self.get(store_id, batch_id)

    async def list_files(
        self, store_id: str, batch_id: str, page: PageParams, status: str | None
    ) -> dict[str, Any]:
        await self.get(store_id, batch_id)
        return await self.stores.list_files(store_id, page, status, batch_id=batch_id)
