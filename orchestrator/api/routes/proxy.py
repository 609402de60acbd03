"""``/v1/desks/{id}/agent/{path}``: the owner's authenticated door to their desk's agent.

Any method, query and body are forwarded; request and response bodies stream through without
buffering (SSE runs included). The connection to the agent is mutual TLS: the agent must present a
certificate from the desk CA for ``agent_dns_name(desk_id)``. The caller's Bureau token is not
forwarded. ``OpenAI(base_url=".../v1/desks/{id}/agent/v1", api_key=<bureau token>)`` works.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from orchestrator.api.deps import CurrentUser, RuntimeDep
from orchestrator.desks import DeskConflict, Desks
from orchestrator.models import Desk, DeskState, User
from orchestrator.runtime import Runtime

router = APIRouter(prefix="/v1/desks", tags=["agent proxy"])
S = DeskState
REACHABLE = (S.ENROLLING.value, S.READY.value, S.AWAITING_KEY.value)
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "cookie",
    "x-csrf-token",
}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _desk(rt: Runtime, user: User, desk_id: str) -> Desk:
    with rt.db.read_session() as session:
        return Desks(session, user, rt.escrow, rt.driver.name).get(desk_id, owner_only=True)


def _error(status: int, message: str) -> JSONResponse:
    """OpenAI's error shape, so SDK users see the message."""
    return JSONResponse(
        {"error": {"message": message, "type": "bureau_proxy_error", "param": None, "code": None}},
        status_code=status,
    )


@router.api_route("/{desk_id}/agent/{path:path}", methods=METHODS, include_in_schema=False)
async def agent_proxy(
    desk_id: str, path: str, request: Request, rt: RuntimeDep, user: CurrentUser
) -> Response:
    desk = await run_in_threadpool(_desk, rt, user, desk_id)
    if desk.state not in REACHABLE or not desk.agent_url:
        raise DeskConflict(
            f"the desk's agent is not reachable: the desk is {desk.state}", desk.state
        )
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
    client = await rt.agents.client(desk_id)
    has_body = (
        request.method not in ("GET", "HEAD", "OPTIONS") or "content-length" in request.headers
    )
    outgoing = client.build_request(
        request.method,
        f"{desk.agent_url.rstrip('/')}/{path}",
        params=list(request.query_params.multi_items()),
        headers=headers,
        content=request.stream() if has_body else None,
        extensions=rt.agents.extensions(desk_id),
    )
    try:
        upstream = await client.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        return _error(502, f"the desk's agent could not be reached ({type(exc).__name__})")
    response_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
    return StreamingResponse(
        upstream.aiter_raw(),
        status_code=upstream.status_code,
        headers=response_headers,
        background=BackgroundTask(upstream.aclose),
    )
