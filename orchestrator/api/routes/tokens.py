"""Your API tokens: create one (shown once, stored hashed), list them, revoke one.

Revocation takes effect on the next request: tokens are checked against the database on every
request (no cache). You cannot revoke your only token: that would lock you out of the API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import col, func, select

from orchestrator.api.deps import CurrentUser, SessionDep
from orchestrator.models import ApiToken, TokenCreate, TokenCreated, TokenList, TokenPublic
from orchestrator.security import hash_token, new_token
from orchestrator.validation import InvalidInput

router = APIRouter(prefix="/v1", tags=["tokens"])
_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def post_token(body: TokenCreate, session: SessionDep, user: CurrentUser) -> TokenCreated:
    if not 1 <= len(body.name) <= 63:
        raise InvalidInput(("body", "name"), "name must be 1 to 63 characters")
    token = new_token()
    row = ApiToken(user_id=user.id, name=body.name, token_hash=hash_token(token))
    session.add(row)
    session.commit()
    return TokenCreated(id=row.id, name=row.name, token=token)


@router.get("/tokens", response_model=TokenList)
def list_tokens(session: SessionDep, user: CurrentUser, credentials: Credentials) -> TokenList:
    """Your tokens, oldest first; ``current`` marks the one this request used."""
    current = hash_token(credentials.credentials) if credentials else ""
    rows = session.exec(
        select(ApiToken)
        .where(ApiToken.user_id == user.id)
        .order_by(col(ApiToken.created_at), col(ApiToken.id))
    ).all()
    return TokenList(
        data=[
            TokenPublic(
                id=row.id,
                name=row.name,
                created_at=row.created_at,
                current=row.token_hash == current,
            )
            for row in rows
        ]
    )


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: str, session: SessionDep, user: CurrentUser) -> Response:
    """Delete one of your tokens; another user's token answers 404 like a missing one."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"you have no token with id {token_id}")
    count = session.exec(
        select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id)
    ).one()
    if count <= 1:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "this is your only token: create another one first (POST /v1/tokens), "
            "or you lock yourself out",
        )
    session.delete(row)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
