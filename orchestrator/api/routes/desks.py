"""``/v1/desks``: create, list, read, change, start/stop/restart, delete, and the key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from orchestrator.api.deps import CallerDep, CurrentUser, RuntimeDep
from orchestrator.api.ratelimit import per_user
from orchestrator.desks import Desks
from orchestrator.keys import resolve, supply_key
from orchestrator.models import (
    Desk,
    DeskCreate,
    DeskList,
    DeskPublic,
    DeskUpdate,
    ProviderUpdateIn,
    User,
)
from orchestrator.providers import list_models
from orchestrator.runtime import Runtime
from orchestrator.validation import InvalidInput, ResolvedProvider, check_desk_create

router = APIRouter(prefix="/v1/desks", tags=["desks"])


def public(desk: Desk) -> DeskPublic:
    return DeskPublic.model_validate(desk, from_attributes=True)


def _json(body: DeskPublic | DeskList, status_code: int = status.HTTP_200_OK) -> Response:
    """The body serialized once, by pydantic's Rust core (``response_model`` still documents
    it; FastAPI would validate the model a second time and encode it in Python)."""
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json")


def _page(desks: Desks, limit: int, after: str | None, everyone: bool) -> DeskList:
    try:
        page = desks.page(limit=limit, after=after, everyone=everyone)
    except ValueError as exc:
        raise InvalidInput(("query", "after"), str(exc)) from None
    return DeskList(
        data=[public(d) for d in page.desks], has_more=page.has_more, next_cursor=page.next_cursor
    )


def _create(rt: Runtime, user: User, body: DeskCreate) -> Desk:
    with rt.db.session() as session:
        desk = Desks(session, user, rt.escrow, rt.driver.name).create(body)
    rt.notifier.notify()
    return desk


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DeskPublic,
    dependencies=[Depends(per_user("desk_create", "desk creations"))],
)
async def create_desk(body: DeskCreate, rt: RuntimeDep, user: CurrentUser) -> Response:
    """Create a desk; the key goes to the in-memory escrow, never to the database."""
    check_desk_create(body, allow_http=rt.settings.allow_http_endpoints)
    if body.verify:
        await list_models(
            rt.settings, body.provider, body.api_key.get_secret_value(), body.endpoint
        )
    desk = await run_in_threadpool(_create, rt, user, body)
    return _json(public(desk), status.HTTP_201_CREATED)


@router.get("", response_model=DeskList)
async def list_desks(
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=200)] = None,
    all: Annotated[bool, Query(description="admins: every user's desks")] = False,
) -> Response:
    return _json(await caller.read(lambda desks: _page(desks, limit, after, all)))


@router.get("/{desk_id}", response_model=DeskPublic)
async def get_desk(desk_id: str, caller: CallerDep) -> Response:
    return _json(await caller.read(lambda desks: public(desks.get(desk_id))))


@router.patch("/{desk_id}", response_model=DeskPublic)
async def patch_desk(desk_id: str, body: DeskUpdate, caller: CallerDep) -> Response:
    return _json(await caller.write(lambda desks: public(desks.update(desk_id, body))))


_ACCEPTED = status.HTTP_202_ACCEPTED


@router.delete("/{desk_id}", status_code=_ACCEPTED, response_model=DeskPublic)
async def delete_desk(desk_id: str, caller: CallerDep) -> Response:
    return _json(await caller.write(lambda desks: public(desks.delete(desk_id))), _ACCEPTED)


@router.post("/{desk_id}/start", status_code=_ACCEPTED, response_model=DeskPublic)
async def start_desk(desk_id: str, caller: CallerDep) -> Response:
    return _json(await caller.write(lambda desks: public(desks.start(desk_id))), _ACCEPTED)


@router.post("/{desk_id}/stop", status_code=_ACCEPTED, response_model=DeskPublic)
async def stop_desk(desk_id: str, caller: CallerDep) -> Response:
    return _json(await caller.write(lambda desks: public(desks.stop(desk_id))), _ACCEPTED)


@router.post("/{desk_id}/restart", status_code=_ACCEPTED, response_model=DeskPublic)
async def restart_desk(desk_id: str, caller: CallerDep) -> Response:
    return _json(await caller.write(lambda desks: public(desks.restart(desk_id))), _ACCEPTED)


def _resolve(rt: Runtime, user: User, desk_id: str, body: ProviderUpdateIn) -> ResolvedProvider:
    with rt.db.read_session() as session:
        return resolve(rt, Desks(session, user, rt.escrow, rt.driver.name), desk_id, body)


@router.put(
    "/{desk_id}/provider",
    response_model=DeskPublic,
    dependencies=[Depends(per_user("key_update", "key updates"))],
)
async def put_provider(
    desk_id: str, body: ProviderUpdateIn, rt: RuntimeDep, user: CurrentUser
) -> DeskPublic:
    """Re-supply a lost key or rotate it; pushed to a running agent over mutual TLS."""
    resolved = await run_in_threadpool(_resolve, rt, user, desk_id, body)
    if body.verify:
        await list_models(
            rt.settings, resolved.provider, body.api_key.get_secret_value(), resolved.endpoint
        )
    desk = await supply_key(rt, user, desk_id, body, resolved)
    return public(desk)
