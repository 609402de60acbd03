"""``/v1/files``: OpenAI's Files API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from bureau_agent.files.service import MAX_LIST, FileService
from bureau_agent.retrieval.errors import InvalidRequest
from bureau_agent.retrieval.routing import RetrievalRoute


def build_router(files: FileService) -> APIRouter:
    router = APIRouter(route_class=RetrievalRoute, tags=["files"])

    @router.post("/files")
    async def upload_file(request: Request) -> dict[str, Any]:
        return await files.upload(request)

    @router.get("/files")
    async def list_files(
        limit: Annotated[str | None, Query()] = None,
        order: Annotated[str | None, Query()] = None,
        after: Annotated[str | None, Query()] = None,
        purpose: Annotated[str | None, Query()] = None,
    ) -> dict[str, Any]:
        count = MAX_LIST
        if limit is not None:
            try:
                count = int(limit)
            except ValueError:
                raise InvalidRequest(f"Invalid 'limit': {limit!r}.", "limit") from None
            if not 1 <= count <= MAX_LIST:
                raise InvalidRequest(f"'limit' must be between 1 and {MAX_LIST}.", "limit")
        if order not in (None, "asc", "desc"):
            raise InvalidRequest("'order' must be 'asc' or 'desc'.", "order")
        return await files.list_page(
            limit=count, order=order or "desc", after=after or None, purpose=purpose or None
        )

    @router.get("/files/{file_id}")
    async def retrieve_file(file_id: str) -> dict[str, Any]:
        return await files.get(file_id)

    @router.delete("/files/{file_id}")
    async def delete_file(file_id: str) -> dict[str, Any]:
        return await files.delete(file_id)

    @router.get("/files/{file_id}/content")
    async def file_content(file_id: str) -> FileResponse:
        row, path = await files.content_path(file_id)
        return FileResponse(path, filename=row.filename, media_type="application/octet-stream")

    return router
