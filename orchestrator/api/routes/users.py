"""``/v1/users`` (admin) and ``/v1/me``."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from orchestrator.api.deps import AdminUser, CurrentUser, SessionDep
from orchestrator.desks import DeskConflict
from orchestrator.models import ApiToken, User, UserCreate, UserCreated, UserPublic
from orchestrator.security import hash_token, new_token
from orchestrator.validation import check_name

router = APIRouter(prefix="/v1", tags=["users"])


def create_user(session: Session, name: str, *, is_admin: bool, token: str | None = None) -> str:
    """Create a user and its first API token (commit is the caller's); return the token."""
    user = User(name=name, is_admin=is_admin)
    session.add(user)
    session.flush()  # the token row refers to the user
    token = token or new_token()
    session.add(ApiToken(user_id=user.id, name="default", token_hash=hash_token(token)))
    return token


def ensure_admin(session: Session, token: str | None) -> str | None:
    """When no user exists, create ``admin`` (with ``token`` or a generated one) and return the
    token; otherwise None."""
    if session.exec(select(User.id).limit(1)).first() is not None:
        return None
    try:
        created = create_user(session, "admin", is_admin=True, token=token)
        session.commit()
    except IntegrityError:  # another replica created it at the same moment
        session.rollback()
        return None
    return created


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserCreated)
def post_user(body: UserCreate, session: SessionDep, _admin: AdminUser) -> UserCreated:
    check_name(body.name)
    if session.exec(select(User.id).where(User.name == body.name)).first():
        raise DeskConflict(f"a user named {body.name} already exists")
    token = create_user(session, body.name, is_admin=body.is_admin)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise DeskConflict(f"a user named {body.name} already exists") from None
    user = session.exec(select(User).where(User.name == body.name)).one()
    return UserCreated(**user.model_dump(), token=token)


@router.get("/users", response_model=list[UserPublic])
def list_users(session: SessionDep, _admin: AdminUser) -> list[UserPublic]:
    users = session.exec(select(User).order_by(User.id)).all()  # type: ignore[arg-type]
    return [UserPublic(**u.model_dump()) for u in users]


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic(**user.model_dump())
