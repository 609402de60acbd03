"""``GET /v1/desks/{id}/events``: the desk's events as Server-Sent Events, history then live.

Wire format (one message per ``desk_events`` row, no ``event:`` field so ``onmessage`` gets all)::

    id: 42
    data: {"id": 42, "desk_id": "d…", "at": "2026-11-22T00:00:00Z", "kind": "transition",
           "from_state": "booting", "to_state": "enrolling", "message": "…"}

``kind`` is ``transition`` (the state changed from_state -> to_state) or ``progress`` (a step
inside a state; from_state == to_state). Resume with ``Last-Event-ID`` or ``?after=<id>``.
``?follow=false`` sends the history and closes. A ``: keepalive`` comment comes every 15 s. The
stream closes after the ``deleted`` transition.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from orchestrator.api.deps import CurrentUser, RuntimeDep
from orchestrator.desks import Desks
from orchestrator.models import DeskEvent, DeskEventPublic, DeskState, User
from orchestrator.runtime import Runtime

router = APIRouter(prefix="/v1/desks", tags=["events"])
KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 1.0


def _fetch(rt: Runtime, user: User, desk_id: str, after: int) -> list[DeskEvent]:
    with rt.db.read_session() as session:
        return Desks(session, user, rt.escrow, rt.driver.name).events(desk_id, after_id=after)


def format_event(event: DeskEvent) -> str:
    body = DeskEventPublic.model_validate(event, from_attributes=True).model_dump_json()
    return f"id: {event.id}\ndata: {body}\n\n"


async def _stream(
    request: Request, rt: Runtime, user: User, desk_id: str, after: int, follow: bool
) -> AsyncIterator[str]:
    last = after
    last_sent = time.monotonic()
    while True:
        events = await run_in_threadpool(_fetch, rt, user, desk_id, last)
        for event in events:
            yield format_event(event)
            last = int(event.id or last)
            last_sent = time.monotonic()
            if event.kind == "transition" and event.to_state == DeskState.DELETED.value:
                return
        if len(events) >= 500:  # more history waiting
            continue
        if not follow or await request.is_disconnected():
            return
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield ": keepalive\n\n"
            last_sent = time.monotonic()
        await rt.notifier.wait(POLL_SECONDS)
        await asyncio.sleep(0)


@router.get(
    "/{desk_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}},
)
async def desk_events(
    desk_id: str,
    request: Request,
    rt: RuntimeDep,
    user: CurrentUser,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    follow: bool = True,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    if last_event_id and last_event_id.isdigit():
        after = max(after, int(last_event_id))
    # Ownership is checked before the stream starts, so a stranger gets a plain 404.
    first = await run_in_threadpool(_fetch, rt, user, desk_id, after)
    del first
    return StreamingResponse(
        _stream(request, rt, user, desk_id, after, follow),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
