"""Threads: create (with messages), retrieve, modify, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from bureau_agent.api import validation as v
from bureau_agent.api.attachments import attach_to_thread
from bureau_agent.api.deps import ServicesDep
from bureau_agent.api.errors import not_found
from bureau_agent.api.messages import MessageFields, build_message
from bureau_agent.api.resources import resolve_tool_resources
from bureau_agent.ids import new_id
from bureau_agent.services import Services

router = APIRouter(tags=["threads"])
KIND = "thread"


class ThreadFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[MessageFields] | None = None
    tool_resources: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


async def create_thread_from(services: Services, body: ThreadFields | None) -> dict[str, Any]:
    """Create a thread and its initial messages (also used by create-and-run)."""
    body = body or ThreadFields()
    v.check_metadata(body.metadata)
    resources = await resolve_tool_resources(services, body.tool_resources)
    thread_id = new_id("thread")
    thread: dict[str, Any] = {
        "id": thread_id,
        "object": "thread",
        "created_at": services.now(),
        "metadata": body.metadata or {},
        "tool_resources": resources,
    }
    messages = [
        build_message(services, thread_id, m, f"messages[{i}]")
        for i, m in enumerate(body.messages or [])
    ]
    await services.docs.insert(KIND, thread)
    await attach_to_thread(services, thread, messages)
    if messages:
        await services.docs.insert_many("thread.message", messages, parent=thread_id)
    return thread


async def get_thread(services: Services, thread_id: str) -> dict[str, Any]:
    doc = await services.docs.get(KIND, thread_id)
    if doc is None:
        raise not_found("thread", thread_id)
    return doc


@router.post("/threads")
async def create_thread(services: ServicesDep, body: ThreadFields | None = None) -> dict[str, Any]:
    return await create_thread_from(services, body)


@router.get("/threads/{thread_id}")
async def retrieve_thread(thread_id: str, services: ServicesDep) -> dict[str, Any]:
    return await get_thread(services, thread_id)


class ThreadUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool_resources: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


@router.post("/threads/{thread_id}")
async def modify_thread(
    thread_id: str, body: ThreadUpdate, services: ServicesDep
) -> dict[str, Any]:
    v.check_metadata(body.metadata)
    changes: dict[str, Any] = {}
    if "metadata" in body.model_fields_set:
        changes["metadata"] = body.metadata or {}
    if "tool_resources" in body.model_fields_set:
        changes["tool_resources"] = await resolve_tool_resources(services, body.tool_resources)
    doc = await services.docs.update(KIND, thread_id, lambda d: d.update(changes))
    if doc is None:
        raise not_found("thread", thread_id)
    return doc


@router.delete("/threads/{thread_id}")
async def delete_thread(thread_id: str, services: ServicesDep) -> dict[str, Any]:
    await get_thread(services, thread_id)
    await services.run_manager().cancel_thread(thread_id)
    for run in await services.docs.all_children("thread.run", thread_id):
        await services.docs.delete_children("thread.run.step", run["id"])
    await services.docs.delete_children("thread.run", thread_id)
    await services.docs.delete_children("thread.message", thread_id)
    await services.docs.delete(KIND, thread_id)
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}
