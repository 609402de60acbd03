"""FastAPI dependencies: the runtime, database sessions, the acting user, the desks layer.

Dependencies that do no I/O are ``async def`` so FastAPI does not hop to a worker thread for them;
the ones that touch the database stay sync (they run in the threadpool).

Each hop to the threadpool costs a thread switch, and under load a wait for the GIL. The desks
routes therefore take a ``Caller`` (the bearer token, checked for shape only) and do everything
that touches the database in ONE threadpool call (none for reads on SQLite): look the token up
(every request: a removed or revoked token stops working at once), then run the operation as that
user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam
from sqlmodel import Session, select

from orchestrator.desks import Desks
from orchestrator.models import ApiToken, User
from orchestrator.runtime import Runtime
from orchestrator.security import hash_token

_bearer = HTTPBearer(auto_error=False, description="A Bureau API token (bur_...)")
T = TypeVar("T")


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


_TOKEN_USER = (
    select(User)
    .join(ApiToken, ApiToken.user_id == User.id)  # type: ignore[arg-type]
    .where(ApiToken.token_hash == bindparam("token_hash"))
)
"""Built once: building the statement cost as much as running it (every request runs it)."""


def _lookup(session: Session, token: str) -> User | None:
    return session.exec(_TOKEN_USER, params={"token_hash": hash_token(token)}).first()


def user_for_token(rt: Runtime, token: str) -> User | None:
    with rt.db.read_session() as session:
        return _lookup(session, token)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token: send Authorization: Bearer <your Bureau token>")
    return credentials.credentials


def _known(user: User | None) -> User:
    if user is None:
        raise _unauthorized("this token is not valid")
    return user


async def get_current_user(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    token = _bearer_token(credentials)
    if rt.db.inline_reads:  # see Database.inline_reads
        return _known(user_for_token(rt, token))
    return _known(await run_in_threadpool(user_for_token, rt, token))


class Caller:
    """The request's bearer token; ``read``/``write`` authenticate it and run an operation on
    the desks layer as that user, together in one threadpool call."""

    def __init__(self, rt: Runtime, token: str) -> None:
        self.rt = rt
        self._token = token

    def _desks(self, session: Session, user: User) -> Desks:
        return Desks(session, user, self.rt.escrow, self.rt.driver.name)

    def read_now(self, operation: Callable[[Desks], T]) -> T:
        with self.rt.db.read_session() as session:
            return operation(self._desks(session, _known(_lookup(session, self._token))))

    def write_now(self, operation: Callable[[Desks], T]) -> T:
        user = _known(user_for_token(self.rt, self._token))  # a read: no write lock for 401s
        with self.rt.db.session() as session:
            result = operation(self._desks(session, user))
        self.rt.notifier.notify()
        return result

    async def read(self, operation: Callable[[Desks], T]) -> T:
        """Run ``operation`` in a read session (never waits for writers on SQLite): on SQLite
        right here, on the event loop (``Database.inline_reads``); else in the threadpool."""
        if self.rt.db.inline_reads:
            return self.read_now(operation)
        return await run_in_threadpool(self.read_now, operation)

    async def write(self, operation: Callable[[Desks], T]) -> T:
        """Run ``operation`` in a write session (it commits), then wake this process's streams
        and idle workers."""
        return await run_in_threadpool(self.write_now, operation)


async def get_caller(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    return Caller(rt, _bearer_token(credentials))


CallerDep = Annotated[Caller, Depends(get_caller)]
CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin can do this")
    return user


AdminUser = Annotated[User, Depends(get_admin)]
