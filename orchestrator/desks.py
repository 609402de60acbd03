"""The one data-access layer for desks. Every call takes the acting user.

Rules (Coder's): a desk the actor may not see does not exist for them (``DeskNotFound`` -> 404).
Owners do everything with their desks. Admins may read, list (``all``), start, stop, restart and
delete any desk (operator duties) but may not talk to another user's agent or change its key.
Handlers call these methods and translate nothing but the errors below.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from orchestrator.escrow import Escrow
from orchestrator.jobs import queue
from orchestrator.lifecycle import IllegalTransition, transition
from orchestrator.models import (
    Desk,
    DeskCreate,
    DeskEvent,
    DeskState,
    DeskUpdate,
    EmbeddingsIn,
    User,
    utcnow,
)
from orchestrator.validation import check_desk_update, key_hint

S = DeskState
_BY_ID = select(Desk).where(Desk.id == bindparam("desk_id"))
"""Built once (every desk request runs it; ``session.get`` builds its statement each time)."""
_BY_ID_LOCKED = _BY_ID.with_for_update()


class DeskNotFound(Exception):
    """No such desk for this actor."""


class DeskConflict(Exception):
    """The request is valid but clashes with the desk's state or another desk."""

    def __init__(self, message: str, state: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.state = state


@dataclass(frozen=True)
class Page:
    desks: Sequence[Desk]
    has_more: bool
    next_cursor: str | None


def escrow_secrets(api_key: str, embeddings: EmbeddingsIn | None) -> dict[str, str]:
    secrets = {"provider": api_key}
    if embeddings is not None:
        secrets["embeddings"] = embeddings.api_key.get_secret_value()
    return secrets


def _encode_cursor(desk_id: str) -> str:
    return base64.urlsafe_b64encode(desk_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        desk_id = base64.b64decode(padded.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        desk_id = ""
    if not re.fullmatch(r"d[0-9a-f]{10,30}", desk_id):
        raise ValueError("after must be a next_cursor this API returned")
    return desk_id


class Desks:
    """Desk operations on behalf of ``actor`` in ``session`` (commit happens here)."""

    def __init__(self, session: Session, actor: User, escrow: Escrow, driver_name: str) -> None:
        self.session = session
        self.actor = actor
        self.escrow = escrow
        self.driver_name = driver_name

    # --- reads ------------------------------------------------------------------------------
    def get(self, desk_id: str, *, owner_only: bool = False, lock: bool = False) -> Desk:
        """``lock`` (before a change): PostgreSQL locks the row, so the change is decided on the
        committed state (a job's transition meanwhile waits, or happened first); the desk's row is
        always locked before its jobs' rows. SQLite's write transaction holds the lock already."""
        query = _BY_ID_LOCKED if lock else _BY_ID
        desk = self.session.exec(query, params={"desk_id": desk_id}).first()
        if desk is None:
            raise DeskNotFound(desk_id)
        if desk.owner_id != self.actor.id and (owner_only or not self.actor.is_admin):
            raise DeskNotFound(desk_id)
        return desk

    def page(self, *, limit: int, after: str | None, everyone: bool = False) -> Page:
        query = select(Desk).where(Desk.state != S.DELETED.value)
        if not (everyone and self.actor.is_admin):
            query = query.where(Desk.owner_id == self.actor.id)
        if after:
            query = query.where(col(Desk.id) > _decode_cursor(after))
        rows = list(self.session.exec(query.order_by(col(Desk.id)).limit(limit + 1)).all())
        has_more = len(rows) > limit
        rows = rows[:limit]
        cursor = _encode_cursor(rows[-1].id) if has_more and rows else None
        return Page(rows, has_more, cursor)

    def events(self, desk_id: str, *, after_id: int = 0, limit: int = 500) -> list[DeskEvent]:
        self.get(desk_id)
        return list(
            self.session.exec(
                select(DeskEvent)
                .where(DeskEvent.desk_id == desk_id, col(DeskEvent.id) > after_id)
                .order_by(col(DeskEvent.id))
                .limit(limit)
            ).all()
        )

    # --- writes -----------------------------------------------------------------------------
    def _name_taken(self, name: str, except_id: str | None = None) -> bool:
        query = select(Desk.id).where(
            Desk.owner_id == self.actor.id, Desk.name == name, Desk.state != S.DELETED.value
        )
        if except_id:
            query = query.where(Desk.id != except_id)
        return self.session.exec(query).first() is not None

    def create(self, body: DeskCreate) -> Desk:
        """A pending desk, its first event and its provisioning job; the key goes to escrow."""
        if self._name_taken(body.name):
            raise DeskConflict(f"you already have a desk named {body.name}")
        key = body.api_key.get_secret_value()
        emb = body.embeddings
        desk = Desk(
            owner_id=self.actor.id,
            name=body.name,
            provider=body.provider,
            model=body.model,
            endpoint=body.endpoint,
            longer_context_model=body.longer_context_model,
            max_tool_calls=body.max_tool_calls,
            embeddings_provider=emb.provider if emb else None,
            embeddings_model=emb.model if emb else None,
            embeddings_endpoint=emb.endpoint if emb else None,
            embeddings_key_hint=key_hint(emb.provider, emb.api_key.get_secret_value())
            if emb
            else None,
            size=body.size,
            region=body.region,
            key_hint=key_hint(body.provider, key),
            driver=self.driver_name,
            state=S.PENDING.value,
        )
        self.session.add(desk)
        try:
            self.session.flush()  # the event row refers to the desk
        except IntegrityError:
            self.session.rollback()
            raise DeskConflict(f"you already have a desk named {body.name}") from None
        self.session.add(
            DeskEvent(
                desk_id=desk.id, kind="transition", to_state=S.PENDING.value, message="created"
            )
        )
        queue.enqueue(self.session, "provision", desk.id)
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            raise DeskConflict(f"you already have a desk named {body.name}") from None
        self.escrow.put(desk.id, escrow_secrets(key, emb))
        return desk

    def update(self, desk_id: str, body: DeskUpdate) -> Desk:
        desk = self.get(desk_id, owner_only=True, lock=True)
        check_desk_update(body)
        if desk.state in (S.DELETING.value, S.DELETED.value):
            raise DeskConflict(f"cannot change a desk that is {desk.state}", desk.state)
        if body.name is not None and body.name != desk.name:
            if self._name_taken(body.name, except_id=desk.id):
                raise DeskConflict(f"you already have a desk named {body.name}")
            desk.name = body.name
        for field in ("model", "longer_context_model", "max_tool_calls"):
            value = getattr(body, field)
            if value is not None:
                setattr(desk, field, value)
        desk.updated_at = utcnow()
        self.session.add(desk)
        self.session.commit()
        return desk

    def _act(self, desk: Desk, target: DeskState, verb: str, job: str | None, msg: str) -> Desk:
        try:
            transition(self.session, desk, target, msg, action=f"{verb} a desk")
        except IllegalTransition as exc:
            self.session.rollback()
            raise DeskConflict(str(exc), exc.current) from None
        if job:
            queue.enqueue(self.session, job, desk.id)
        self.session.commit()
        return desk

    def start(self, desk_id: str) -> Desk:
        desk = self.get(desk_id, lock=True)
        if desk.state == S.FAILED.value and not desk.details.get("enrolled_at"):
            return self._act(desk, S.PENDING, "start", "provision", "retry provisioning")
        if desk.state not in (S.STOPPED.value, S.FAILED.value):
            raise DeskConflict(f"cannot start a desk that is {desk.state}", desk.state)
        return self._act(desk, S.STARTING, "start", "start", "start requested")

    def stop(self, desk_id: str) -> Desk:
        desk = self.get(desk_id, lock=True)
        if desk.state not in (S.READY.value, S.AWAITING_KEY.value, S.BOOTING.value,
                              S.ENROLLING.value):  # fmt: skip
            raise DeskConflict(f"cannot stop a desk that is {desk.state}", desk.state)
        queue.cancel_for_desk(self.session, desk.id)
        return self._act(desk, S.STOPPING, "stop", "stop", "stop requested")

    def restart(self, desk_id: str) -> Desk:
        desk = self.get(desk_id, lock=True)
        if desk.state not in (S.READY.value, S.AWAITING_KEY.value):
            raise DeskConflict(f"cannot restart a desk that is {desk.state}", desk.state)
        return self._act(desk, S.STOPPING, "restart", "restart", "restart requested")

    def delete(self, desk_id: str) -> Desk:
        """Delete always works (from any state but deleted); running jobs are cancelled."""
        desk = self.get(desk_id, lock=True)
        if desk.state == S.DELETING.value:
            return desk
        if desk.state == S.DELETED.value:
            raise DeskConflict("the desk is already deleted", desk.state)
        queue.cancel_for_desk(self.session, desk.id)
        self.escrow.discard(desk.id)
        return self._act(desk, S.DELETING, "delete", "destroy", "delete requested")
