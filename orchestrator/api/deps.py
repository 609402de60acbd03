"""FastAPI dependencies: the runtime, database sessions, the acting user, the desks layer.

Dependencies that do no I/O are ``async def`` so FastAPI does not hop to a worker thread for them;
the ones that touch the database stay sync (they run in the threadpool).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session, select

from orchestrator.desks import Desks
from orchestrator.models import ApiToken, User
from orchestrator.runtime import Runtime
from orchestrator.security import hash_token

_bearer = HTTPBearer(auto_error=False, description="A Bureau API token (bur_...)")


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(rt: RuntimeDep) -> Iterator[Session]:
    with rt.db.session() as session:
        yield session


def get_read_session(rt: RuntimeDep) -> Iterator[Session]:
    with rt.db.read_session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]


def user_for_token(rt: Runtime, token: str) -> User | None:
    with rt.db.read_session() as session:
        row = session.exec(
            select(User)
            .join(ApiToken, ApiToken.user_id == User.id)  # type: ignore[arg-type]
            .where(ApiToken.token_hash == hash_token(token))
        ).first()
        return row


def get_current_user(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token: send Authorization: Bearer <your Bureau token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = user_for_token(rt, credentials.credentials)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this token is not valid",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin can do this")
    return user


AdminUser = Annotated[User, Depends(get_admin)]


async def get_desks(rt: RuntimeDep, session: SessionDep, user: CurrentUser) -> Desks:
    return Desks(session, user, rt.escrow, rt.driver.name)


async def get_read_desks(rt: RuntimeDep, session: ReadSessionDep, user: CurrentUser) -> Desks:
    return Desks(session, user, rt.escrow, rt.driver.name)


DesksDep = Annotated[Desks, Depends(get_desks)]
ReadDesksDep = Annotated[Desks, Depends(get_read_desks)]
