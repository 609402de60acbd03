"""``POST /v1/tokens``: a new API token for the caller (shown once, stored hashed)."""

from __future__ import annotations

from fastapi import APIRouter, status

from orchestrator.api.deps import CurrentUser, SessionDep
from orchestrator.models import ApiToken, TokenCreate, TokenCreated
from orchestrator.security import hash_token, new_token
from orchestrator.validation import InvalidInput

router = APIRouter(prefix="/v1", tags=["tokens"])


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def post_token(body: TokenCreate, session: SessionDep, user: CurrentUser) -> TokenCreated:
    if not 1 <= len(body.name) <= 63:
        raise InvalidInput(("body", "name"), "name must be 1 to 63 characters")
    token = new_token()
    row = ApiToken(user_id=user.id, name=body.name, token_hash=hash_token(token))
    session.add(row)
    session.commit()
    return TokenCreated(id=row.id, name=row.name, token=token)
