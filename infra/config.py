"""What the Pulumi program needs to build one desk on Hetzner Cloud."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

#: Hetzner label values: up to 63 characters of [a-zA-Z0-9_.-], alphanumeric at both ends.
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")
_LABEL_KEY = re.compile(r"^(?:[a-z0-9.-]+/)?[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

DEFAULT_SERVER_TYPE = "cx23"
DEFAULT_IMAGE = "debian-12"
DEFAULT_LOCATION = "nbg1"
DEFAULT_VOLUME_GIB = 10
MANAGED_BY = "bureau"
#: Pulumi config namespace of the standalone program (``pulumi config set bureau:deskId ...``).
CONFIG_NAMESPACE = "bureau"


def valid_label(key: str, value: str) -> bool:
    """Whether Hetzner accepts ``key=value`` as a label."""
    return bool(_LABEL_KEY.match(key) and _LABEL_VALUE.match(value))


class InfraConfigError(ValueError):
    """The desk's infrastructure settings are invalid; the message names the field."""


@dataclass(frozen=True)
class DeskInfraConfig:
    """One desk's Hetzner resources. ``user_data`` carries the single-use bootstrap token: the
    program wraps it in ``pulumi.Output.secret`` so it is encrypted in the stack state."""

    desk_id: str
    owner_id: str
    user_data: pulumi.Input[str] = field(repr=False)
    """The rendered ``#cloud-config`` (a str, or a secret ``pulumi.Output`` when read from stack
    config); ignored when ``server_enabled`` is false."""
    control_plane_cidrs: tuple[str, ...]
    server_enabled: bool = True
    server_type: str = DEFAULT_SERVER_TYPE
    image: str = DEFAULT_IMAGE
    location: str = DEFAULT_LOCATION
    volume_size_gib: int = DEFAULT_VOLUME_GIB
    agent_port: int = 7443
    ssh_cidrs: tuple[str, ...] = ()
    extra_labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("desk_id", "owner_id"):
            if not _LABEL_VALUE.match(getattr(self, name)) or not getattr(self, name):
                raise InfraConfigError(f"{name} must be a valid Hetzner label value")
        if not _HOSTNAME.match(self.resource_name):
            raise InfraConfigError("desk_id must make a valid hostname (lowercase, digits, -, _)")
        if not self.control_plane_cidrs:
            raise InfraConfigError("control_plane_cidrs must name at least one address")
        for cidr in (*self.control_plane_cidrs, *self.ssh_cidrs):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise InfraConfigError(f"{cidr!r} is not an IP address or CIDR") from None
        if self.volume_size_gib < 10:
            raise InfraConfigError("volume_size_gib must be at least 10 (Hetzner's minimum)")
        if not 1 <= self.agent_port <= 65535:
            raise InfraConfigError("agent_port must be a TCP port")
        for key, value in self.extra_labels.items():
            if not valid_label(key, value):
                raise InfraConfigError(f"label {key!r}={value!r} is not a valid Hetzner label")

    @property
    def resource_name(self) -> str:
        """Hetzner name of the desk's resources (and the server's hostname)."""
        return "desk-" + self.desk_id.lower().replace("_", "-")

    @property
    def labels(self) -> dict[str, str]:
        """Labels on every resource: how ``list_managed`` and the reconciler find them."""
        return {
            **self.extra_labels,
            "managed-by": MANAGED_BY,
            "desk-id": self.desk_id,
            "owner": self.owner_id,
        }

    def public_settings(self) -> dict[str, Any]:
        """The settings worth keeping in stack outputs (no user-data): what ``stop`` needs to
        re-run the program without the control plane's spec."""
        return {
            "desk_id": self.desk_id,
            "owner_id": self.owner_id,
            "server_type": self.server_type,
            "image": self.image,
            "location": self.location,
            "volume_size_gib": self.volume_size_gib,
            "agent_port": self.agent_port,
            "ssh_cidrs": list(self.ssh_cidrs),
            "extra_labels": dict(self.extra_labels),
        }

    @classmethod
    def from_public_settings(
        cls,
        settings: Mapping[str, Any],
        *,
        user_data: pulumi.Input[str],
        server_enabled: bool,
        control_plane_cidrs: tuple[str, ...],
    ) -> DeskInfraConfig:
        """Rebuild a config from ``public_settings()`` (as exported by a previous run)."""
        return cls(
            desk_id=str(settings["desk_id"]),
            owner_id=str(settings["owner_id"]),
            user_data=user_data,
            control_plane_cidrs=control_plane_cidrs,
            server_enabled=server_enabled,
            server_type=str(settings.get("server_type", DEFAULT_SERVER_TYPE)),
            image=str(settings.get("image", DEFAULT_IMAGE)),
            location=str(settings.get("location", DEFAULT_LOCATION)),
            volume_size_gib=int(settings.get("volume_size_gib", DEFAULT_VOLUME_GIB)),
            agent_port=int(settings.get("agent_port", 7443)),
            ssh_cidrs=tuple(settings.get("ssh_cidrs", ())),
            extra_labels=dict(settings.get("extra_labels", {})),
        )

    @classmethod
    def from_pulumi_config(cls, config: Any) -> DeskInfraConfig:
        """Read the standalone program's settings from ``pulumi.Config(CONFIG_NAMESPACE)``;
        ``userData`` must be set with ``--secret``."""

        def cidrs(key: str) -> tuple[str, ...]:
            value = config.get_object(key)
            return tuple(value) if value else ()

        return cls(
            desk_id=config.require("deskId"),
            owner_id=config.require("ownerId"),
            user_data=config.get_secret("userData") or "",
            control_plane_cidrs=cidrs("controlPlaneCidrs"),
            server_enabled=config.get_bool("serverEnabled") is not False,
            server_type=config.get("serverType") or DEFAULT_SERVER_TYPE,
            image=config.get("image") or DEFAULT_IMAGE,
            location=config.get("location") or DEFAULT_LOCATION,
            volume_size_gib=config.get_int("volumeSizeGib") or DEFAULT_VOLUME_GIB,
            agent_port=config.get_int("agentPort") or 7443,
            ssh_cidrs=cidrs("sshCidrs"),
        )
