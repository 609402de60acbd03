"""What a desk's first boot needs to know: the renderer's only input.

There is deliberately no field here that could hold a provider key, and the model forbids extra
fields: a BYOK key cannot reach rendered user-data by type. The bootstrap token is single use and
short-lived; it is the only credential in user-data (DESIGN.md §4).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentBootConfig(_Frozen):
    """Non-secret agent settings, written to /etc/bureau/agent.env (Grist-style names)."""

    provider: Literal["anthropic", "openai", "openrouter", "custom"]
    model: str
    endpoint: str | None = None
    longer_context_model: str | None = None
    max_tool_calls: int = Field(default=10, ge=1, le=100)
    embeddings_provider: Literal["openai", "openrouter", "custom"] | None = None
    embeddings_model: str | None = None
    embeddings_endpoint: str | None = None
    memory: bool = True


class AgentDist(_Frozen):
    """The agent wheel the VM installs when its image lacks this version (served by the control
    plane at ``GET /v1/agent/dist/{filename}``, verified against ``sha256``)."""

    version: str
    filename: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    requirements_filename: str | None = None
    """Optional constraints file listing the dependency wheels, also served from /dist/."""


class DeskBootSettings(_Frozen):
    desk_id: str
    hostname: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    control_plane_url: str
    """Base URL the VM uses to reach the control plane (enroll, dist)."""
    control_plane_ca_pem: str
    """CA that signed the control plane's server certificate: the VM pins it."""
    bootstrap_token: str = Field(min_length=32)
    agent: AgentBootConfig
    agent_dist: AgentDist
    agent_port: int = 7443
    ssh_authorized_keys: tuple[str, ...] = ()
    data_disk_device: str | None = None
    """Block device of the persistent data disk (mounted at /var/lib/bureau and /home/desk)."""
