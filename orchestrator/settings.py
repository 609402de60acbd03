"""The control plane's configuration: ``BUREAU_*`` environment variables, built in the app factory.

Defaults are for one developer on one machine (``make run``): SQLite and a CA under ``./.bureau``,
HTTPS on 127.0.0.1:8443, the qemu driver. ``environment=production`` refuses the settings that
are only safe on a developer's machine (plain HTTP, http model endpoints, the scripted driver, a
short admin token), with a message that names the variable to change.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

import limits
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DriverName = Literal["qemu", "hcloud", "scripted"]
Environment = Literal["development", "production"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


class UnsafeSettingsError(ValueError):
    """The settings are only acceptable in development."""


class Settings(BaseSettings):
    """Everything ``bureau serve`` and ``bureau worker`` read from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="BUREAU_", extra="ignore", hide_input_in_errors=True
    )

    environment: Environment = "development"
    data_dir: Path = Path(".bureau")
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/bureau.db``. PostgreSQL:
    ``postgresql+psycopg://user@host/db``."""
    driver: DriverName = "qemu"
    public_url: str = "https://127.0.0.1:8443"
    """Base URL desks and clients use to reach this control plane (default: from host/port)."""
    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=1, le=65535)
    tls: bool = True
    tls_extra_sans: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["10.0.2.100"])
    """More names/IPs in the server certificate (comma separated). 10.0.2.100 is the address
    local VMs use to reach the control plane through the qemu driver's guest forward."""
    bootstrap_admin_token: SecretStr | None = None
    escrow_ttl_seconds: int = Field(default=3600, ge=1)
    bootstrap_token_ttl: int = Field(default=3600, ge=60)
    """Seconds a desk's single-use bootstrap token stays valid."""
    enroll_timeout_seconds: int = Field(default=1800, ge=10)
    """A desk still booting after this long fails (the agent never enrolled)."""
    allow_http_endpoints: bool = False
    """Admit http:// custom endpoints on loopback/private addresses (development and tests)."""
    run_workers: bool = True
    """``bureau serve`` runs the job workers in-process."""
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    job_poll_seconds: float = Field(default=0.5, gt=0)
    job_heartbeat_seconds: float = Field(default=5.0, gt=0)
    job_stale_seconds: float = Field(default=30.0, gt=0)
    """A running job whose heartbeat is older than this is re-queued by the reaper."""
    job_max_attempts: int = Field(default=5, ge=1)
    driver_retry_attempts: int = Field(default=5, ge=1, le=50)
    driver_retry_base_seconds: float = Field(default=1.0, gt=0)
    """Transient driver errors are retried with exponential backoff from this base (tenacity)."""
    reconcile_interval_seconds: float = Field(default=60.0, gt=0)
    health_timeout_seconds: float = Field(default=120.0, gt=0)
    """How long the control plane keeps trying the agent's health check after enrollment."""
    openai_api_base: str = "https://api.openai.com/v1"
    anthropic_api_base: str = "https://api.anthropic.com/v1"
    openrouter_api_base: str = "https://openrouter.ai/api/v1"
    provider_timeout_seconds: float = Field(default=15.0, gt=0)
    agent_source_dir: Path = _REPO_ROOT / "agent_image"
    """Where ``pip wheel`` builds the agent wheel from when ``<data_dir>/dist`` lacks it."""
    log_level: str = "INFO"
    rate_limit_storage: str = "memory://"
    """Where request budgets are counted: ``memory://`` (per process) or ``redis://host:port``."""
    rate_limit_desk_create: str = "60/minute"
    """Desk creations per user (``N/second|minute|hour|day``; empty = no limit)."""
    rate_limit_provider_check: str = "30/minute"
    """Provider model listings per user (each is an outbound call with the user's key)."""
    rate_limit_key_update: str = "30/minute"
    """Key rotations per user (``PUT /v1/desks/{id}/provider``; may verify the key live)."""
    rate_limit_enroll: str = "120/minute"
    """Enrollment attempts per client address."""
    web_secret: SecretStr | None = None
    """Session-cookie secret of the web UI shared by several replicas (else one per data dir)."""

    @field_validator(
        "rate_limit_desk_create",
        "rate_limit_provider_check",
        "rate_limit_key_update",
        "rate_limit_enroll",
    )
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                limits.parse(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate limit: write N/second, N/minute, N/hour or N/day"
                ) from None
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _check_rate_limit_storage(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("rate_limit_storage must be memory:// or a redis:// URL")
        return value

    @field_validator("tls_extra_sans", mode="before")
    @classmethod
    def _split_sans(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("BUREAU_PUBLIC_URL must be an absolute http(s) URL, like https://host")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _default_public_url(self) -> Self:
        """Without BUREAU_PUBLIC_URL, the public URL follows host, port and tls."""
        if "public_url" not in self.model_fields_set:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
            host = f"[{host}]" if ":" in host else host
            self.public_url = f"{'https' if self.tls else 'http'}://{host}:{self.port}"
        return self

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Self:
        token = self.bootstrap_admin_token
        if token is not None and len(token.get_secret_value()) < 16:
            raise UnsafeSettingsError(
                "BUREAU_BOOTSTRAP_ADMIN_TOKEN is too short: use at least 16 random characters"
            )
        if self.environment != "production":
            return self
        problems = []
        if not self.tls:
            problems.append("BUREAU_TLS=false (serve HTTPS; the key travels in request bodies)")
        if urlsplit(self.public_url).scheme != "https":
            problems.append("BUREAU_PUBLIC_URL is not https")
        if self.allow_http_endpoints:
            problems.append("BUREAU_ALLOW_HTTP_ENDPOINTS=true (keys would travel in clear)")
        if self.driver == "scripted":
            problems.append("BUREAU_DRIVER=scripted (the test driver creates no machines)")
        if token is not None and len(token.get_secret_value()) < 32:
            problems.append("BUREAU_BOOTSTRAP_ADMIN_TOKEN shorter than 32 characters")
        if problems:
            raise UnsafeSettingsError(
                "refusing unsafe settings with BUREAU_ENVIRONMENT=production: "
                + "; ".join(problems)
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'bureau.db'}"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def dist_dir(self) -> Path:
        return self.data_dir / "dist"

    @property
    def public_host(self) -> str:
        return urlsplit(self.public_url).hostname or "127.0.0.1"

    def server_sans(self) -> list[str]:
        """Names and addresses for the server certificate, deduplicated, in a stable order."""
        names = ["localhost", "127.0.0.1", "::1", self.public_host, *self.tls_extra_sans]
        if self.host not in ("0.0.0.0", "::"):
            names.append(self.host)
        seen: list[str] = []
        for name in names:
            if name and name not in seen:
                seen.append(name)
        return seen

    def provider_api_base(self, provider: str) -> str:
        return {
            "openai": self.openai_api_base,
            "anthropic": self.anthropic_api_base,
            "openrouter": self.openrouter_api_base,
        }[provider].rstrip("/")


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
