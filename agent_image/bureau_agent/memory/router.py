"""``/desk/v1/memory``: the user's view of their memory (list, search, delete, export)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import StreamingResponse

from bureau_agent.api.errors import OpenAIError
from bureau_agent.memory.store import MemoryStore
from bureau_agent.retrieval.errors import InvalidRequest, NotFound
from bureau_agent.retrieval.routing import RetrievalRoute

MAX_LIMIT = 100


def _limit(raw: str | None, default: int = 20) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"Invalid 'limit': {raw!r}.", "limit") from None
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidRequest(f"'limit' must be between 1 and {MAX_LIMIT}.", "limit")
    return value


def build_router(store: MemoryStore | None) -> APIRouter:
    """``store`` None: memory is off (BUREAU_MEMORY=off); every call answers 409."""
    router = APIRouter(route_class=RetrievalRoute, tags=["memory"])

    def need() -> MemoryStore:
        if store is None:
            raise OpenAIError(409, "Memory is turned off on this desk (BUREAU_MEMORY=off).",
                              code="memory_disabled")  # fmt: skip
        return store

    @router.get("/memory")
    async def list_memories(
        query: Annotated[str | None, Query()] = None,
        limit: Annotated[str | None, Query()] = None,
        after: Annotated[str | None, Query()] = None,
        thread_id: Annotated[str | None, Query()] = None,
    ) -> dict[str, Any]:
        """Newest first; with ``query``, the best matches (with ``score``)."""
        memories = need()
        count = _limit(limit)
        if query:
            found = await memories.search(query, count)
            return _page([m.to_api() for m in found], False)
        items = await memories.list_all(thread_id)
        if after:
            ids = [m.id for m in items]
            if after not in ids:
                raise InvalidRequest(f"No memory found with id '{after}'.", "after")
            items = items[ids.index(after) + 1 :]
        return _page([m.to_api() for m in items[:count]], len(items) > count)

    @router.post("/memory")
    async def add_memory(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InvalidRequest("Missing required parameter: 'text'.", "text")
        return (await need().add(text, None, "note")).to_api()

    @router.get("/memory/export")
    async def export_memories() -> StreamingResponse:
        """Every memory as JSON Lines (oldest first), for the user to keep."""
        items = list(reversed(await need().list_all()))

        async def lines() -> AsyncIterator[bytes]:
            for m in items:
                yield (json.dumps(m.to_api()) + "\n").encode()

        headers = {"Content-Disposition": 'attachment; filename="memory.jsonl"'}
        return StreamingResponse(lines(), media_type="application/x-ndjson", headers=headers)

    @router.get("/memory/{memory_id}")
    async def get_memory(memory_id: str) -> dict[str, Any]:
        found = await need().get(memory_id)
        if found is None:
            raise NotFound(f"No memory found with id '{memory_id}'.", "memory_id")
        return found.to_api()

    @router.delete("/memory/{memory_id}")
    async def delete_memory(memory_id: str) -> dict[str, Any]:
        memories = need()
        if await memories.get(memory_id) is None:
            raise NotFound(f"No memory found with id '{memory_id}'.", "memory_id")
        await memories.delete([memory_id])
        return {"id": memory_id, "object": "memory.deleted", "deleted": True}

    @router.delete("/memory")
    async def delete_all_memories() -> dict[str, Any]:
        count = await need().delete_all()
        return {"object": "memory.deleted", "deleted": True, "count": count}

    return router


def _page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
