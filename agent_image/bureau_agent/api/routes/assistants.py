"""Assistants: create, list, retrieve, modify, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from bureau_agent.api import validation as v
from bureau_agent.api.deps import ServicesDep
from bureau_agent.api.errors import invalid, not_found
from bureau_agent.api.pagination import PageDep
from bureau_agent.api.resources import resolve_tool_resources
from bureau_agent.ids import new_id

router = APIRouter(tags=["assistants"])
KIND = "assistant"


class AssistantFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    name: str | None = None
    description: str | None = None
    instructions: str | None = None
    tools: list[Any] | None = None
    tool_resources: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    response_format: Any = None
    reasoning_effort: str | None = None


def check_fields(body: AssistantFields) -> None:
    v.check_length(body.name, "name", v.MAX_NAME)
    v.check_length(body.description, "description", v.MAX_DESCRIPTION)
    v.check_length(body.instructions, "instructions", v.MAX_INSTRUCTIONS)
    v.check_metadata(body.metadata)
    v.check_range(body.temperature, "temperature", 0.0, 2.0)
    v.check_range(body.top_p, "top_p", 0.0, 1.0)


@router.post("/assistants")
async def create_assistant(body: AssistantFields, services: ServicesDep) -> dict[str, Any]:
    if not body.model:
        raise invalid("model", "Missing required parameter: 'model'.")
    check_fields(body)
    tools = v.normalize_tools(body.tools)
    response_format = v.normalize_response_format(body.response_format)
    resources = await resolve_tool_resources(services, body.tool_resources)
    doc = {
        "id": new_id("asst"),
        "object": "assistant",
        "created_at": services.now(),
        "name": body.name,
        "description": body.description,
        "model": body.model,
        "instructions": body.instructions,
        "tools": tools,
        "tool_resources": resources,
        "metadata": body.metadata or {},
        "top_p": body.top_p if body.top_p is not None else 1.0,
        "temperature": body.temperature if body.temperature is not None else 1.0,
        "response_format": response_format,
        "reasoning_effort": body.reasoning_effort,
    }
    return await services.docs.insert(KIND, doc)


@router.get("/assistants")
async def list_assistants(page: PageDep, services: ServicesDep) -> dict[str, Any]:
    return (await services.docs.list_page(KIND, page)).body()


@router.get("/assistants/{assistant_id}")
async def retrieve_assistant(assistant_id: str, services: ServicesDep) -> dict[str, Any]:
    doc = await services.docs.get(KIND, assistant_id)
    if doc is None:
        raise not_found("assistant", assistant_id)
    return doc


@router.post("/assistants/{assistant_id}")
async def modify_assistant(
    assistant_id: str, body: AssistantFields, services: ServicesDep
) -> dict[str, Any]:
    check_fields(body)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if "model" in changes and not changes["model"]:
        raise invalid("model", "Invalid 'model': expected a non-empty string.")
    if "tools" in changes:
        changes["tools"] = v.normalize_tools(body.tools)
    if "response_format" in changes:
        changes["response_format"] = v.normalize_response_format(body.response_format)
    if "tool_resources" in changes:
        changes["tool_resources"] = await resolve_tool_resources(services, body.tool_resources)
    if changes.get("metadata") is None and "metadata" in changes:
        changes["metadata"] = {}
    doc = await services.docs.update(KIND, assistant_id, lambda d: d.update(changes))
    if doc is None:
        raise not_found("assistant", assistant_id)
    return doc


@router.delete("/assistants/{assistant_id}")
async def delete_assistant(assistant_id: str, services: ServicesDep) -> dict[str, Any]:
    if not await services.docs.delete(KIND, assistant_id):
        raise not_found("assistant", assistant_id)
    return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}
