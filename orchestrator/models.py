"""SQLModel tables and their API model families (FastAPI template: Base -> Create/Update -> table ->
Public). No table has a column that could hold a provider key: ``DeskCreate.api_key`` is a
``SecretStr`` that exists only in the request, and the desk keeps a ``key_hint``.
"""

from __future__ import annotations

import enum
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr
from sqlalchemy import JSON, Column, Index, Text, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A sortable, DNS-safe id: prefix + 11 hex digits of milliseconds + 8 random hex digits."""
    return f"{prefix}{int(time.time() * 1000):011x}{secrets.token_hex(4)}"


class DeskState(enum.StrEnum):
    PENDING = "pending"
    PROVISIONING = "provisioning"
    BOOTING = "booting"
    ENROLLING = "enrolling"
    READY = "ready"
    AWAITING_KEY = "awaiting_key"
    STOPPING = "stopping"
    STOPPED = "stopped"
    STARTING = "starting"
    FAILED = "failed"
    DELETING = "deleting"
    DELETED = "deleted"


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# --- users and tokens --------------------------------------------------------------------------
class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=lambda: new_id("u"), primary_key=True, max_length=32)
    name: str = Field(unique=True, index=True, max_length=63)
    is_admin: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: str = Field(default_factory=lambda: new_id("t"), primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    name: str = Field(max_length=63)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class BootstrapToken(SQLModel, table=True):
    __tablename__ = "bootstrap_tokens"

    id: str = Field(default_factory=lambda: new_id("b"), primary_key=True, max_length=32)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    desk_id: str = Field(foreign_key="desks.id", index=True, max_length=32)
    expires_at: datetime
    used_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


# --- desks -------------------------------------------------------------------------------------
class DeskBase(SQLModel):
    name: str = Field(max_length=63)
    provider: str = Field(max_length=16)
    model: str = Field(max_length=200)
    endpoint: str | None = Field(default=None, max_length=2048)
    longer_context_model: str | None = Field(default=None, max_length=200)
    max_tool_calls: int = 10
    embeddings_provider: str | None = Field(default=None, max_length=16)
    embeddings_model: str | None = Field(default=None, max_length=200)
    embeddings_endpoint: str | None = Field(default=None, max_length=2048)
    size: str = Field(default="small", max_length=16)
    region: str | None = Field(default=None, max_length=32)


_LIVE = text("state != 'deleted'")


class Desk(DeskBase, table=True):
    __tablename__ = "desks"
    __table_args__ = (
        Index("ix_desks_owner_state", "owner_id", "state"),
        # One live desk per (owner, name); a deleted desk frees its name.
        Index(
            "uq_desks_owner_live_name",
            "owner_id",
            "name",
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        ),
    )

    id: str = Field(default_factory=lambda: new_id("d"), primary_key=True, max_length=32)
    owner_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    key_hint: str = Field(max_length=32)
    """Provider + last four characters of the key, e.g. ``openai …a1b2``."""
    embeddings_key_hint: str | None = Field(default=None, max_length=32)
    state: str = Field(default=DeskState.PENDING.value, max_length=16)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    driver: str = Field(max_length=16)
    agent_url: str | None = Field(default=None, max_length=512)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class EmbeddingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str
    api_key: SecretStr
    model: str
    endpoint: str | None = None


class DeskCreate(BaseModel):
    """Request body of ``POST /v1/desks``; validated in orchestrator/validation.py."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str
    provider: str
    api_key: SecretStr
    model: str
    endpoint: str | None = None
    longer_context_model: str | None = None
    max_tool_calls: int = 10
    embeddings: EmbeddingsIn | None = None
    size: str = "small"
    region: str | None = None
    verify: bool = False
    """Check the key live against the provider's models endpoint before creating the desk."""


class DeskUpdate(BaseModel):
    """``PATCH /v1/desks/{id}``: the non-secret settings that take effect on the next (re)start."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str | None = None
    model: str | None = None
    longer_context_model: str | None = None
    max_tool_calls: int | None = None


class ProviderUpdateIn(BaseModel):
    """``PUT /v1/desks/{id}/provider``: re-supply or rotate the key (and optionally the model)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    provider: str | None = None
    api_key: SecretStr
    model: str | None = None
    endpoint: str | None = None
    embeddings: EmbeddingsIn | None = None
    verify: bool = False


class DeskPublic(DeskBase):
    id: str
    owner_id: str
    key_hint: str
    embeddings_key_hint: str | None
    state: str
    reason: str | None
    driver: str
    agent_url: str | None
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class DeskList(BaseModel):
    data: list[DeskPublic]
    has_more: bool
    next_cursor: str | None


class DeskEvent(SQLModel, table=True):
    __tablename__ = "desk_events"

    id: int | None = Field(default=None, primary_key=True)
    desk_id: str = Field(foreign_key="desks.id", index=True, max_length=32)
    at: datetime = Field(default_factory=utcnow)
    kind: str = Field(default="transition", max_length=16)
    """``transition`` (from_state -> to_state) or ``progress`` (a driver's step)."""
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    message: str = Field(default="", sa_column=Column(Text, nullable=False))


class DeskEventPublic(BaseModel):
    id: int
    desk_id: str
    at: datetime
    kind: str
    from_state: str | None
    to_state: str
    message: str


# --- jobs --------------------------------------------------------------------------------------
class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_pickup", "state", "run_after"),)

    id: str = Field(default_factory=lambda: new_id("j"), primary_key=True, max_length=32)
    desk_id: str | None = Field(default=None, index=True, max_length=32)
    kind: str = Field(max_length=32)
    state: str = Field(default=JobState.QUEUED.value, max_length=16)
    attempts: int = 0
    max_attempts: int = 5
    run_after: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime | None = None
    worker_id: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    cancel_requested: bool = False
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


# --- users API ---------------------------------------------------------------------------------
class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    is_admin: bool = False


class UserPublic(BaseModel):
    id: str
    name: str
    is_admin: bool
    created_at: datetime


class UserCreated(UserPublic):
    token: str
    """Shown once; only its hash is stored."""


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str


class TokenCreated(BaseModel):
    id: str
    name: str
    token: str
    """Shown once; only its hash is stored."""


class TokenPublic(BaseModel):
    id: str
    name: str
    created_at: datetime
    current: bool
    """True for the token that made this request."""


class TokenList(BaseModel):
    data: list[TokenPublic]
