"""The Pulumi program for one warm-pool server on Hetzner Cloud (stack ``pool-<slot id>``).

A pool server is a desk machine without a desk: the same firewall (the agent port open to the
control plane's addresses only, no SSH), an empty ext4 volume of the size class's size, and a
server that boots the pool user-data (orchestrator/pool/hcloud_seed.py: no desk, no user, no
user's secret; one single-use pool token). It declares the SAME logical resources as the desk
program (infra/desk.py ``declare_machine``), so assigning it to a desk is: run the desk program on
this stack (names and labels change in place, nothing is replaced), then rename the stack to
``desk-<desk id>``. Labels: ``managed-by=bureau``, ``pool-slot=<slot id>``, ``pool-class=<size>``
and never ``desk-id`` (the desk reconciler ignores pool servers; the pool's own reconciler finds
them by ``pool-slot``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra.config import (
    DEFAULT_IMAGE,
    DEFAULT_LOCATION,
    DEFAULT_SERVER_TYPE,
    DEFAULT_VOLUME_GIB,
    MANAGED_BY,
    InfraConfigError,
)
from infra.desk import DeskResources, declare_machine, inbound_rules

POOL_SLOT_LABEL = "pool-slot"
POOL_CLASS_LABEL = "pool-class"
#: Label a desk keeps after it took over a pool server (informative: which slot it was).
POOLED_FROM_LABEL = "pooled-from"
_SLOT = re.compile(r"^p[a-z0-9]{6,40}$")


def pool_stack_name(slot_id: str) -> str:
    return f"pool-{slot_id}"


@dataclass(frozen=True)
class PoolInfraConfig:
    slot_id: str
    size_class: str
    user_data: pulumi.Input[str] = field(repr=False)
    """The pool server's ``#cloud-config``: wrapped in ``pulumi.Output.secret`` by the program
    (it holds the slot's single-use pool token, nothing of any user)."""
    control_plane_cidrs: tuple[str, ...]
    token_sha256: str
    """sha256 of the slot's pool token (exported: the control plane checks pool enrollment
    against it after a restart; the token itself is never exported)."""
    created_at: float
    server_type: str = DEFAULT_SERVER_TYPE
    image: str = DEFAULT_IMAGE
    location: str = DEFAULT_LOCATION
    volume_size_gib: int = DEFAULT_VOLUME_GIB
    agent_port: int = 7443

    def __post_init__(self) -> None:
        if not _SLOT.match(self.slot_id):
            raise InfraConfigError("slot_id must be 'p' + 6-40 lowercase letters or digits")
        if not re.fullmatch(r"[a-z0-9]{1,32}", self.size_class):
            raise InfraConfigError("size_class must be a short lowercase name")
        if not re.fullmatch(r"[0-9a-f]{64}", self.token_sha256):
            raise InfraConfigError("token_sha256 must be a sha256 hex digest")
        if not self.control_plane_cidrs:
            raise InfraConfigError("control_plane_cidrs must name at least one address")
        for cidr in self.control_plane_cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise InfraConfigError(f"{cidr!r} is not an IP address or CIDR") from None
        if self.volume_size_gib < 10:
            raise InfraConfigError("volume_size_gib must be at least 10 (Hetzner's minimum)")

    @property
    def resource_name(self) -> str:
        return pool_stack_name(self.slot_id)

    @property
    def labels(self) -> dict[str, str]:
        return {
            "managed-by": MANAGED_BY,
            POOL_SLOT_LABEL: self.slot_id,
            POOL_CLASS_LABEL: self.size_class,
        }

    def public_settings(self) -> dict[str, Any]:
        """Exported as ``pool``: what a takeover and a restarted control plane need."""
        return {
            "slot_id": self.slot_id,
            "size_class": self.size_class,
            "server_type": self.server_type,
            "image": self.image,
            "location": self.location,
            "volume_size_gib": self.volume_size_gib,
            "agent_port": self.agent_port,
            "token_sha256": self.token_sha256,
            "created_at": self.created_at,
        }


def build_pool_server(config: PoolInfraConfig) -> DeskResources:
    resources = declare_machine(
        name=config.resource_name,
        labels=config.labels,
        rules=inbound_rules(config.agent_port, config.control_plane_cidrs),
        server_type=config.server_type,
        image=config.image,
        location=config.location,
        volume_size_gib=config.volume_size_gib,
        user_data=config.user_data,
    )
    pulumi.export("pool", config.public_settings())
    return resources


def pool_program(config: PoolInfraConfig) -> Callable[[], None]:
    def program() -> None:
        build_pool_server(config)

    return program


__all__ = [
    "POOLED_FROM_LABEL",
    "POOL_CLASS_LABEL",
    "POOL_SLOT_LABEL",
    "PoolInfraConfig",
    "build_pool_server",
    "pool_program",
    "pool_stack_name",
]
