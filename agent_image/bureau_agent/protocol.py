"""The control plane <-> agent contract, version 1.

This module is duplicated on purpose as ``orchestrator/protocol.py`` (the agent must not import the
control plane); ``tests/test_protocol_contract.py`` proves both copies produce the same JSON schema.

Versioning (Coder's rule): an additive change (a new optional field) keeps ``PROTOCOL_VERSION`` and
bumps ``PROTOCOL_MINOR``; a breaking change bumps ``PROTOCOL_VERSION``. A removed field's name is
never reused. The control plane refuses enrollment from an agent whose ``protocol_version`` it does
not speak (HTTP 426 with both versions in the message).

Exchanges:
1. ``POST /v1/agent/enroll`` (agent -> control plane, TLS pinned to the control plane CA):
   ``EnrollRequest`` -> ``EnrollResponse``. The bootstrap token is single use; the response carries
   the user's key(s) exactly once, then the control plane forgets them.
2. ``PUT /desk/v1/provider`` (control plane -> agent, mutual TLS): ``ProviderUpdate`` -> ``Health``.
3. ``GET /desk/v1/health`` (control plane -> agent, mutual TLS): ``Health``.

Certificates: the agent's server certificate is signed by the desk CA with subject CN = desk id and
the DNS SAN ``agent_dns_name(desk_id)``; the control plane connects to the agent with that name as
TLS server name, so ordinary hostname verification proves it reached the right desk.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer

PROTOCOL_VERSION = 1
PROTOCOL_MINOR = 0

ProviderName = Literal["anthropic", "openai", "openrouter", "custom"]
EmbeddingsProviderName = Literal["openai", "openrouter", "custom"]


def agent_dns_name(desk_id: str) -> str:
    """The DNS name in a desk agent's certificate (and the TLS server name used to reach it)."""
    return f"{desk_id}.desk.bureau.internal"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderCredentials(_Wire):
    """The user's chat provider settings, with the key. Travels only in TLS bodies, never stored."""

    provider: ProviderName
    api_key: SecretStr
    model: str
    endpoint: str | None = None
    longer_context_model: str | None = None
    max_tool_calls: int = Field(default=10, ge=1, le=100)

    @field_serializer("api_key", when_used="json")
    def _reveal_key(self, value: SecretStr) -> str:
        return value.get_secret_value()


class EmbeddingsCredentials(_Wire):
    """Optional embeddings provider for persistent memory and hybrid file_search."""

    provider: EmbeddingsProviderName
    api_key: SecretStr
    model: str
    endpoint: str | None = None

    @field_serializer("api_key", when_used="json")
    def _reveal_key(self, value: SecretStr) -> str:
        return value.get_secret_value()


class EnrollRequest(_Wire):
    protocol_version: int = PROTOCOL_VERSION
    desk_id: str
    bootstrap_token: SecretStr
    csr_pem: str
    agent_version: str

    @field_serializer("bootstrap_token", when_used="json")
    def _reveal_token(self, value: SecretStr) -> str:
        return value.get_secret_value()


class EnrollResponse(_Wire):
    protocol_version: int = PROTOCOL_VERSION
    desk_id: str
    certificate_pem: str
    """The agent's server certificate, signed by the desk CA."""
    ca_pem: str
    """The desk CA: the agent trusts client certificates signed by it (the control plane's)."""
    provider: ProviderCredentials | None
    """None when the escrow no longer held the key: the agent serves, the desk awaits the key."""
    embeddings: EmbeddingsCredentials | None = None
    health_interval_seconds: int = 30


class ProviderUpdate(_Wire):
    protocol_version: int = PROTOCOL_VERSION
    provider: ProviderCredentials
    embeddings: EmbeddingsCredentials | None = None


class Health(_Wire):
    protocol_version: int = PROTOCOL_VERSION
    desk_id: str | None
    agent_version: str
    status: Literal["ok", "awaiting_key", "degraded"]
    provider: ProviderName | None = None
    model: str | None = None
    uptime_seconds: float = 0.0
