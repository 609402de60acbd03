"""``/v1/vector_stores``: stores, their files, file batches and search (OpenAI's shapes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from bureau_agent.api.pagination import PageDep
from bureau_agent.retrieval.routing import RetrievalRoute
from bureau_agent.vector_stores.batches import BatchService
from bureau_agent.vector_stores.service import VectorStoreService

JsonBody = Annotated[dict[str, Any], Body()]
OptionalBody = Annotated[dict[str, Any] | None, Body()]
StatusFilter = Annotated[str | None, Query(alias="filter")]


def build_router(stores: VectorStoreService, batches: BatchService) -> APIRouter:
    router = APIRouter(route_class=RetrievalRoute, tags=["vector_stores"])

    @router.post("/vector_stores")
    async def create_vector_store(body: OptionalBody = None) -> dict[str, Any]:
        return await stores.create(body or {})

    @router.get("/vector_stores")
    async def list_vector_stores(page: PageDep) -> dict[str, Any]:
        return await stores.list_page(page)

    @router.get("/vector_stores/{vector_store_id}")
    async def retrieve_vector_store(vector_store_id: str) -> dict[str, Any]:
        return await stores.get(vector_store_id)

    @router.post("/vector_stores/{vector_store_id}")
    async def modify_vector_store(vector_store_id: str, body: JsonBody) -> dict[str, Any]:
        return await stores.update(vector_store_id, body)

    @router.delete("/vector_stores/{vector_store_id}")
    async def delete_vector_store(vector_store_id: str) -> dict[str, Any]:
        return await stores.delete(vector_store_id)

    @router.post("/vector_stores/{vector_store_id}/search")
    async def search_vector_store(vector_store_id: str, body: JsonBody) -> dict[str, Any]:
        return await stores.search(vector_store_id, body)

    @router.post("/vector_stores/{vector_store_id}/files")
    async def create_vector_store_file(vector_store_id: str, body: JsonBody) -> dict[str, Any]:
        return await stores.add_file(vector_store_id, body)

    @router.get("/vector_stores/{vector_store_id}/files")
    async def list_vector_store_files(
        vector_store_id: str, page: PageDep, status: StatusFilter = None
    ) -> dict[str, Any]:
        return await stores.list_files(vector_store_id, page, status)

    @router.get("/vector_stores/{vector_store_id}/files/{file_id}")
    async def retrieve_vector_store_file(vector_store_id: str, file_id: str) -> dict[str, Any]:
        return await stores.get_file(vector_store_id, file_id)

    @router.post("/vector_stores/{vector_store_id}/files/{file_id}")
    async def update_vector_store_file(
        vector_store_id: str, file_id: str, body: JsonBody
    ) -> dict[str, Any]:
        return await stores.update_file(vector_store_id, file_id, body)

    @router.delete("/vector_stores/{vector_store_id}/files/{file_id}")
    async def delete_vector_store_file(vector_store_id: str, file_id: str) -> dict[str, Any]:
        return await stores.delete_file(vector_store_id, file_id)

    @router.get("/vector_stores/{vector_store_id}/files/{file_id}/content")
    async def vector_store_file_content(vector_store_id: str, file_id: str) -> dict[str, Any]:
        return await stores.file_content(vector_store_id, file_id)

    @router.post("/vector_stores/{vector_store_id}/file_batches")
    async def create_file_batch(vector_store_id: str, body: JsonBody) -> dict[str, Any]:
        return await batches.create(vector_store_id, body)

    @router.get("/vector_stores/{vector_store_id}/file_batches/{batch_id}")
    async def retrieve_file_batch(vector_store_id: str, batch_id: str) -> dict[str, Any]:
        return await batches.get(vector_store_id, batch_id)

    @router.post("/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel")
    async def cancel_file_batch(vector_store_id: str, batch_id: str) -> dict[str, Any]:
        return await batches.cancel(vector_store_id, batch_id)

    @router.get("/vector_stores/{vector_store_id}/file_batches/{batch_id}/files")
    async def list_file_batch_files(
        vector_store_id: str, batch_id: str, page: PageDep, status: StatusFilter = None
    ) -> dict[str, Any]:
        return await batches.list_files(vector_store_id, batch_id, page, status)

    return router
