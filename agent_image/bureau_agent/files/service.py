"""The Files API's behaviour: upload, list, retrieve, delete, content (routes stay thin)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request

from bureau_agent.config import MAX_UPLOAD_BYTES
from bureau_agent.files import repository as repo
from bureau_agent.files.storage import FileStorage
from bureau_agent.files.upload import receive_upload
from bureau_agent.ids import new_id
from bureau_agent.retrieval.errors import InvalidRequest, NotFound
from bureau_agent.store.db import Database

PURPOSES = ("assistants", "user_data", "vision", "batch", "fine-tune", "evals")
MAX_LIST = 10_000
EXPIRY_SECONDS = (3600, 2_592_000)


class FileService:
    """Implements ``tools.base.FileResolver`` too (``local_path``) for code_interpreter."""

    def __init__(
        self,
        db: Database,
        storage: FileStorage,
        now: Callable[[], int],
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        self.db = db
        self.storage = storage
        self.now = now
        self.max_upload_bytes = max_upload_bytes
        self.on_delete: list[Callable[[str], Awaitable[None]]] = []
        """Called with the file id before a file goes (vector stores detach it)."""

    async def upload(self, request: Request) -> dict[str, Any]:
        file_id = new_id("file")
        partial = self.storage.partial(file_id)
        upload = await receive_upload(request, partial, self.max_upload_bytes)
        try:
            purpose = upload.fields.get("purpose")
            if purpose is None:
                raise InvalidRequest("Missing required parameter: 'purpose'.", "purpose")
            if purpose not in PURPOSES:
                raise InvalidRequest(
                    f"Invalid value for 'purpose': '{purpose}'. Expected one of "
                    f"{', '.join(PURPOSES)}.",
                    "purpose",
                )
            now = self.now()
            expires_at = self._expiry(upload.fields, now)
            os.chmod(partial, 0o600)
            os.replace(partial, self.storage.path(file_id))
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        assert upload.filename is not None
        row = repo.FileRow(file_id, upload.filename, upload.size, purpose, now, expires_at)
        await self.db.run(lambda conn: repo.insert(conn, row))
        return row.to_api()

    @staticmethod
    def _expiry(fields: dict[str, str], now: int) -> int | None:
        anchor = fields.get("expires_after[anchor]")
        seconds = fields.get("expires_after[seconds]")
        if anchor is None and seconds is None:
            return None
        if anchor != "created_at":
            raise InvalidRequest(
                "expires_after.anchor must be 'created_at'.", "expires_after.anchor"
            )
        try:
            value = int(seconds or "")
        except ValueError:
            raise InvalidRequest(
                "expires_after.seconds must be an integer.", "expires_after.seconds"
            ) from None
        low, high = EXPIRY_SECONDS
        if not low <= value <= high:
            raise InvalidRequest(
                f"expires_after.seconds must be between {low} and {high}.", "expires_after.seconds"
            )
        return now + value

    async def list_page(
        self, *, limit: int, order: str, after: str | None, purpose: str | None
    ) -> dict[str, Any]:
        def _list(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], bool]:
            where = "(expires_at IS NULL OR expires_at > ?)"
            args: list[Any] = [self.now()]
            if purpose:
                where += " AND purpose = ?"
                args.append(purpose)
            if after:
                cursor = conn.execute("SELECT seq FROM files WHERE id = ?", (after,)).fetchone()
                if cursor is None:
                    raise InvalidRequest(f"No file found with id '{after}'.", "after")
                where += " AND seq < ?" if order == "desc" else " AND seq > ?"
                args.append(cursor["seq"])
            direction = "DESC" if order == "desc" else "ASC"
            rows = conn.execute(
                f"SELECT * FROM files WHERE {where} ORDER BY seq {direction} LIMIT ?",  # noqa: S608
                [*args, limit + 1],
            ).fetchall()
            return [repo.FileRow.of(r).to_api() for r in rows[:limit]], len(rows) > limit

        data, has_more = await self.db.run(_list)
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }

    async def get_row(self, file_id: str) -> repo.FileRow:
        row = await self.db.run(lambda conn: repo.get(conn, file_id))
        if row is None or (row.expires_at is not None and row.expires_at <= self.now()):
            raise NotFound(f"No such File object: {file_id}", "file_id")
        return row

    async def get(self, file_id: str) -> dict[str, Any]:
        return (await self.get_row(file_id)).to_api()

    async def delete(self, file_id: str) -> dict[str, Any]:
        await self.get_row(file_id)
        for hook in self.on_delete:
            await hook(file_id)
        await self.db.run(lambda conn: repo.delete(conn, file_id))
        self.storage.remove(file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    async def content_path(self, file_id: str) -> tuple[repo.FileRow, Path]:
        row = await self.get_row(file_id)
        path = self.storage.path(file_id)
        if not path.exists():
            raise NotFound(f"The content of file {file_id} is gone.", "file_id")
        return row, path

    async def local_path(self, file_id: str) -> tuple[str, Path] | None:
        try:
            row, path = await self.content_path(file_id)
        except NotFound:
            return None
        return row.filename, path

    async def existing(self, file_ids: list[str]) -> set[str]:
        now = self.now()

        def _existing(conn: sqlite3.Connection) -> set[str]:
            found = repo.existing(conn, file_ids)
            expired = {
                r["id"] for r in conn.execute("SELECT id FROM files WHERE expires_at <= ?", (now,))
            }
            return found - expired

        return await self.db.run(_existing)
