"""The resume exchange between the control plane and an unassigned pooled agent.

Duplicated on purpose as ``agent_image/bureau_agent/pool/wire.py`` (the agent never imports the
control plane); ``tests/pool/test_wire_contract.py`` proves both copies have the same schema.

``POST /pool/v1/resume`` with ``Authorization: Bearer <pool token>`` (a per-template token, not a
secret of any user) carries what cloud-init would otherwise write for the desk (the agent.env
entries, the control plane CA, the bootstrap token, SSH keys, the data disk) plus the host's clock
and fresh entropy.
"""

from __future__ import annotations

import base64
import binascii
import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer, field_validator

POOL_PROTOCOL = 1
MIN_ENTROPY_BYTES = 32
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
#: Names the agent.env must never carry (keys arrive only through enrollment).
_FORBIDDEN_ENV = re.compile(r"(_API_KEY|^BUREAU_AGENT_TOKEN)$")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResumeRequest(_Wire):
    pool_protocol: int = POOL_PROTOCOL
    desk_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    hostname: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    agent_env: list[tuple[str, str]]
    """The agent.env entries, in order (cloud_init.render.agent_env of the desk's settings)."""
    control_plane_ca_pem: str
    bootstrap_token: SecretStr = Field(min_length=32)
    ssh_authorized_keys: list[str] = Field(default_factory=list)
    data_disk_device: str | None = Field(default=None, pattern=r"^/dev/[A-Za-z0-9/_.:-]+$")
    host_time_ns: int = Field(gt=0)
    """The host's wall clock (``time.time_ns()``) when it sent the request."""
    entropy_b64: str
    """At least 32 fresh random bytes from the host, base64."""

    @field_validator("agent_env")
    @classmethod
    def _check_env(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for name, item in value:
            if not _ENV_NAME.match(name):
                raise ValueError(f"bad agent.env name {name!r}")
            if _FORBIDDEN_ENV.search(name):
                raise ValueError(f"{name} may not travel in agent.env (keys come by enrollment)")
            if "\n" in item or "\r" in item or "\0" in item:
                raise ValueError(f"agent.env value of {name} must be one line")
        return value

    @field_validator("control_plane_ca_pem")
    @classmethod
    def _check_ca(cls, value: str) -> str:
        if "BEGIN CERTIFICATE" not in value:
            raise ValueError("control_plane_ca_pem must be a PEM certificate")
        return value

    @field_validator("ssh_authorized_keys")
    @classmethod
    def _check_keys(cls, value: list[str]) -> list[str]:
        if any("\n" in key or not key.strip() for key in value):
            raise ValueError("each ssh_authorized_keys entry must be one non-empty line")
        return value

    @field_validator("entropy_b64")
    @classmethod
    def _check_entropy(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("entropy_b64 must be base64") from None
        if len(raw) < MIN_ENTROPY_BYTES:
            raise ValueError(f"entropy_b64 must carry at least {MIN_ENTROPY_BYTES} bytes")
        return value

    @field_serializer("bootstrap_token", when_used="json")
    def _reveal_token(self, value: SecretStr) -> str:
        return value.get_secret_value()

    def entropy(self) -> bytes:
        return base64.b64decode(self.entropy_b64)


class StepTiming(_Wire):
    name: str
    ms: float
    detail: str = ""


class ResumeResponse(_Wire):
    pool_protocol: int = POOL_PROTOCOL
    desk_id: str
    hostname: str
    machine_id: str
    guest_time_ns: int
    """The guest's wall clock right after it was set (the caller checks the skew)."""
    rng_probe_before: str
    """sha256 of 32 bytes read from the kernel RNG before the reseed (discarded bytes)."""
    rng_probe_after: str
    """sha256 of 32 bytes read after the reseed: differs between clones of one snapshot."""
    steps: list[StepTiming]
    enrolled: bool
    error: str | None = None
