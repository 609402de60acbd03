"""``/v1/desks``: create, list, read, change, start/stop/restart, delete, and the key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.concurrency import run_in_threadpool

from orchestrator.api.deps import CurrentUser, DesksDep, ReadDesksDep, RuntimeDep
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


def _create(rt: Runtime, user: User, body: DeskCreate) -> Desk:
    with rt.db.session() as session:
        desk = Desks(session, user, rt.escrow, rt.driver.name).create(body)
    rt.notifier.notify()
    return desk


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DeskPublic)
async def create_desk(body: DeskCreate, rt: RuntimeDep, user: CurrentUser) -> DeskPublic:
    """Create a desk; the key goes to the in-memory escrow, never to the database."""
    check_desk_create(body, allow_http=rt.settings.allow_http_endpoints)
    if body.verify:
        await list_models(
            rt.settings, body.provider, body.api_key.get_secret_value(), body.endpoint
        )
    desk = await run_in_threadpool(_create, rt, user, body)
    return public(desk)


@router.get("", response_model=DeskList)
def list_desks(
    desks: ReadDesksDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=200)] = None,
    all: Annotated[bool, Query(description="admins: every user's desks")] = False,
) -> DeskList:
    try:
        page = desks.page(limit=limit, after=after, everyone=all)
    except ValueError as exc:
        raise InvalidInput(("query", "after"), str(exc)) from None
    return DeskList(
        data=[public(d) for d in page.desks], has_more=page.has_more, next_cursor=page.next_cursor
    )


@router.get("/{desk_id}", response_model=DeskPublic)
def get_desk(desk_id: str, desks: ReadDesksDep) -> DeskPublic:
    return public(desks.get(desk_id))


@router.patch("/{desk_id}", response_model=DeskPublic)
def patch_desk(desk_id: str, body: DeskUpdate, desks: DesksDep, rt: RuntimeDep) -> DeskPublic:
    desk = desks.update(desk_id, body)
    rt.notifier.notify()
    return public(desk)


@router.delete("/{desk_id}", status_code=status.HTTP_202_ACCEPTED, response_model=DeskPublic)
def delete_desk(desk_id: str, desks: DesksDep, rt: RuntimeDep) -> DeskPublic:
    desk = desks.delete(desk_id)
    rt.notifier.notify()
    return public(desk)


@router.post("/{desk_id}/start", status_code=status.HTTP_202_ACCEPTED, response_model=DeskPublic)
def start_desk(desk_id: str, desks: DesksDep, rt: RuntimeDep) -> DeskPublic:
    desk = desks.start(desk_id)
    rt.notifier.notify()
    return public(desk)


@router.post("/{desk_id}/stop", status_code=status.HTTP_202_ACCEPTED, response_model=DeskPublic)
def stop_desk(desk_id: str, desks: DesksDep, rt: RuntimeDep) -> DeskPublic:
    desk = desks.stop(desk_id)
    rt.notifier.notify()
    return public(desk)


@router.post("/{desk_id}/restart", status_code=status.HTTP_202_ACCEPTED, response_model=DeskPublic)
def restart_desk(desk_id: str, desks: DesksDep, rt: RuntimeDep) -> DeskPublic:
    desk = desks.restart(desk_id)
    rt.notifier.notify()
    return public(desk)


def _resolve(rt: Runtime, user: User, desk_id: str, body: ProviderUpdateIn) -> ResolvedProvider:
    with rt.db.read_session() as session:
        return resolve(rt, Desks(session, user, rt.escrow, rt.driver.name), desk_id, body)


@router.put("/{desk_id}/provider", response_model=DeskPublic)
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
