"""Run steps: list and retrieve."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from bureau_agent.api.deps import ServicesDep
from bureau_agent.api.errors import not_found
from bureau_agent.api.pagination import PageDep
from bureau_agent.api.routes.runs import get_run

router = APIRouter(tags=["run steps"])
KIND = "thread.run.step"
CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def _shape(step: dict[str, Any], include: list[str] | None) -> dict[str, Any]:
    """file_search result contents only when asked for (``include[]``), as OpenAI does."""
    if include and CONTENT in include:
        return step
    for call in (step.get("step_details") or {}).get("tool_calls") or []:
        for result in (call.get("file_search") or {}).get("results") or []:
            result.pop("content", None)
    return step


@router.get("/threads/{thread_id}/runs/{run_id}/steps")
async def list_steps(
    thread_id: str,
    run_id: str,
    page: PageDep,
    services: ServicesDep,
    include: Annotated[list[str] | None, Query(alias="include[]")] = None,
) -> dict[str, Any]:
    await get_run(services, thread_id, run_id)
    listing = await services.docs.list_page(KIND, page, parent=run_id)
    listing.data = [_shape(s, include) for s in listing.data]
    return listing.body()


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
async def retrieve_step(
    thread_id: str,
    run_id: str,
    step_id: str,
    services: ServicesDep,
    include: Annotated[list[str] | None, Query(alias="include[]")] = None,
) -> dict[str, Any]:
    await get_run(services, thread_id, run_id)
    step = await services.docs.get(KIND, step_id, parent=run_id)
    if step is None:
        raise not_found("run step", step_id)
    return _shape(step, include)
