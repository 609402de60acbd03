"""Messages of a thread: create, list (``run_id`` filter), retrieve, modify, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from bureau_agent.api import validation as v
from bureau_agent.api.attachments import attach_to_thread
from bureau_agent.api.deps import ServicesDep
from bureau_agent.api.errors import OpenAIError, not_found
from bureau_agent.api.messages import MessageFields, build_message
from bureau_agent.api.pagination import PageDep
from bureau_agent.api.routes.threads import get_thread

router = APIRouter(tags=["messages"])
KIND = "thread.message"


@router.post("/threads/{thread_id}/messages")
async def create_message(
    thread_id: str, body: MessageFields, services: ServicesDep
) -> dict[str, Any]:
    thread = await get_thread(services, thread_id)
    if await services.run_manager().active_run(thread_id) is not None:
        raise OpenAIError(
            400,
            f"Can't add messages to {thread_id} while a run is active.",
            param="thread_id",
        )
    message = build_message(services, thread_id, body)
    await attach_to_thread(services, thread, [message])
    return await services.docs.insert(KIND, message, parent=thread_id)


@router.get("/threads/{thread_id}/messages")
async def list_messages(
    thread_id: str,
    page: PageDep,
    services: ServicesDep,
    run_id: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    await get_thread(services, thread_id)
    return (await services.docs.list_page(KIND, page, parent=thread_id, run_id=run_id)).body()


@router.get("/threads/{thread_id}/messages/{message_id}")
async def retrieve_message(
    thread_id: str, message_id: str, services: ServicesDep
) -> dict[str, Any]:
    doc = await services.docs.get(KIND, message_id, parent=thread_id)
    if doc is None:
        raise not_found("message", message_id)
    return doc


class MessageUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: dict[str, Any] | None = None


@router.post("/threads/{thread_id}/messages/{message_id}")
async def modify_message(
    thread_id: str, message_id: str, body: MessageUpdate, services: ServicesDep
) -> dict[str, Any]:
    v.check_metadata(body.metadata)
    await retrieve_message(thread_id, message_id, services)
    doc = await services.docs.update(
        KIND, message_id, lambda d: d.update(metadata=body.metadata or {})
    )
    if doc is None:
        raise not_found("message", message_id)
    return doc


@router.delete("/threads/{thread_id}/messages/{message_id}")
async def delete_message(thread_id: str, message_id: str, services: ServicesDep) -> dict[str, Any]:
    if not await services.docs.delete(KIND, message_id, parent=thread_id):
        raise not_found("message", message_id)
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}
