"""Runs: create (and create-and-run), list, retrieve, modify, cancel, submit_tool_outputs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from bureau_agent.api import validation as v
from bureau_agent.api.attachments import attach_to_thread
from bureau_agent.api.deps import ServicesDep
from bureau_agent.api.errors import OpenAIError, invalid, not_found
from bureau_agent.api.messages import build_message
from bureau_agent.api.pagination import PageDep
from bureau_agent.api.routes.threads import ThreadFields, create_thread_from, get_thread
from bureau_agent.api.run_params import RunFields, build_run
from bureau_agent.runner.events import Event, stream_events
from bureau_agent.services import Services

router = APIRouter(tags=["runs"])
KIND = "thread.run"


async def _start(
    services: Services, thread_id: str, body: RunFields, prelude: list[Event]
) -> dict[str, Any] | StreamingResponse:
    manager = services.run_manager()
    run = await build_run(services, thread_id, body)
    if await manager.active_run(thread_id) is not None:
        raise OpenAIError(400, f"Thread {thread_id} already has an active run.", param="thread_id")
    extra = [
        build_message(services, thread_id, m, f"additional_messages[{i}]")
        for i, m in enumerate(body.additional_messages or [])
    ]
    if extra:
        await attach_to_thread(services, await get_thread(services, thread_id), extra)
        await services.docs.insert_many("thread.message", extra, parent=thread_id)
    await services.docs.insert(KIND, run, parent=thread_id)
    if not body.stream:
        manager.launch(run, None)
        return dict(run)
    queue = manager.bus.subscribe(run["id"])
    snapshot = dict(run)
    manager.launch(run, None)
    prelude = [*prelude, ("thread.run.created", snapshot), ("thread.run.queued", snapshot)]
    return StreamingResponse(
        stream_events(manager.bus, run["id"], queue, prelude), media_type="text/event-stream"
    )


@router.post("/threads/{thread_id}/runs", response_model=None)
async def create_run(
    thread_id: str, body: RunFields, services: ServicesDep
) -> dict[str, Any] | StreamingResponse:
    await get_thread(services, thread_id)
    return await _start(services, thread_id, body, [])


class ThreadAndRunFields(RunFields):
    thread: ThreadFields | None = None
    tool_resources: dict[str, Any] | None = None


@router.post("/threads/runs", response_model=None)
async def create_thread_and_run(
    body: ThreadAndRunFields, services: ServicesDep
) -> dict[str, Any] | StreamingResponse:
    if await services.docs.get("assistant", body.assistant_id) is None:
        raise not_found("assistant", body.assistant_id)
    thread_body = body.thread or ThreadFields()
    if body.tool_resources is not None and thread_body.tool_resources is None:
        thread_body = thread_body.model_copy(update={"tool_resources": body.tool_resources})
    thread = await create_thread_from(services, thread_body)
    run_body = RunFields(
        **body.model_dump(exclude={"thread", "tool_resources"}, exclude_unset=True)
    )
    return await _start(services, thread["id"], run_body, [("thread.created", thread)])


async def get_run(services: Services, thread_id: str, run_id: str) -> dict[str, Any]:
    run = await services.docs.get(KIND, run_id, parent=thread_id)
    if run is None:
        raise not_found("run", run_id)
    await services.run_manager().expire_if_due(run)
    return run


@router.get("/threads/{thread_id}/runs")
async def list_runs(thread_id: str, page: PageDep, services: ServicesDep) -> dict[str, Any]:
    await get_thread(services, thread_id)
    listing = await services.docs.list_page(KIND, page, parent=thread_id)
    for run in listing.data:
        await services.run_manager().expire_if_due(run)
    return listing.body()


@router.get("/threads/{thread_id}/runs/{run_id}")
async def retrieve_run(thread_id: str, run_id: str, services: ServicesDep) -> dict[str, Any]:
    return await get_run(services, thread_id, run_id)


class RunUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: dict[str, Any] | None = None


@router.post("/threads/{thread_id}/runs/{run_id}")
async def modify_run(
    thread_id: str, run_id: str, body: RunUpdate, services: ServicesDep
) -> dict[str, Any]:
    v.check_metadata(body.metadata)
    run = await get_run(services, thread_id, run_id)
    return await services.run_manager().modify(run, body.metadata or {})


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(thread_id: str, run_id: str, services: ServicesDep) -> dict[str, Any]:
    run = await get_run(services, thread_id, run_id)
    return await services.run_manager().cancel(run)


class ToolOutputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool_outputs: list[dict[str, Any]]
    stream: bool | None = None


@router.post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", response_model=None)
async def submit_tool_outputs(
    thread_id: str, run_id: str, body: ToolOutputs, services: ServicesDep
) -> dict[str, Any] | StreamingResponse:
    run = await get_run(services, thread_id, run_id)
    if run["status"] != "requires_action":
        raise invalid(
            "run_id",
            f'Runs in status "{run["status"]}" do not accept tool outputs.',
        )
    manager = services.run_manager()
    if not body.stream:
        return dict(await manager.continue_with_outputs(run, body.tool_outputs))
    queue = manager.bus.subscribe(run_id)
    try:
        await manager.continue_with_outputs(run, body.tool_outputs)
    except Exception:
        manager.bus.unsubscribe(run_id, queue)
        raise
    return StreamingResponse(
        stream_events(manager.bus, run_id, queue, []), media_type="text/event-stream"
    )
