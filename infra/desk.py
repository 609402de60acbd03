"""The Pulumi program for one desk on Hetzner Cloud: firewall, volume, server, attachment.

Stop is ``server_enabled=False``: the server (billed even when powered off) and its attachment go,
the firewall and the volume (home, agent state, memory) stay. Start brings a new server and
attaches the same volume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_hcloud as hcloud

from infra.config import CONFIG_NAMESPACE, DeskInfraConfig

PROVIDER_PACKAGE = "hcloud"


@dataclass(frozen=True)
class DeskResources:
    firewall: Any
    volume: Any
    server: Any | None
    attachment: Any | None


def firewall_rules(config: DeskInfraConfig) -> list[hcloud.FirewallRuleArgs]:
    """Inbound: the agent port from the control plane only, SSH only from the user's CIDRs.
    Hetzner firewalls deny every inbound packet no rule allows."""
    return inbound_rules(config.agent_port, config.control_plane_cidrs, config.ssh_cidrs)


def inbound_rules(
    agent_port: int, control_plane_cidrs: tuple[str, ...], ssh_cidrs: tuple[str, ...] = ()
) -> list[hcloud.FirewallRuleArgs]:
    rules = [
        hcloud.FirewallRuleArgs(
            direction="in",
            protocol="tcp",
            port=str(agent_port),
            source_ips=list(control_plane_cidrs),
            description="bureau agent from the control plane",
        )
    ]
    if ssh_cidrs:
        rules.append(
            hcloud.FirewallRuleArgs(
                direction="in",
                protocol="tcp",
                port="22",
                source_ips=list(ssh_cidrs),
                description="ssh from the desk owner",
            )
        )
    return rules


def build_desk(config: DeskInfraConfig) -> DeskResources:
    """Declare the desk's resources and export ``ipv4``/``ipv6`` (empty when stopped)."""
    resources = declare_machine(
        name=config.resource_name,
        labels=config.labels,
        rules=firewall_rules(config),
        server_type=config.server_type,
        image=config.image,
        location=config.location,
        volume_size_gib=config.volume_size_gib,
        user_data=config.user_data if config.server_enabled else None,
    )
    pulumi.export("desk", config.public_settings())
    return resources


def declare_machine(
    *,
    name: str,
    labels: dict[str, str],
    rules: list[hcloud.FirewallRuleArgs],
    server_type: str,
    image: str,
    location: str,
    volume_size_gib: int,
    user_data: pulumi.Input[str] | None,
) -> DeskResources:
    """Firewall, volume and (when ``user_data`` is not None) server + attachment, with exports.

    Shared by the desk and the warm-pool programs (infra/pool.py) with the SAME logical names and
    types, so a pooled server's stack becomes a desk's stack by a rename and an ``up`` that only
    changes names and labels (in place: Hetzner updates both without touching the machine)."""
    firewall = hcloud.Firewall("firewall", name=name, labels=labels, rules=rules)
    volume = hcloud.Volume(
        "volume",
        name=name,
        size=volume_size_gib,
        location=location,
        format="ext4",
        labels=labels,
        delete_protection=False,
    )
    server = attachment = None
    if user_data is not None:
        server = hcloud.Server(
            "server",
            name=name,
            server_type=server_type,
            image=image,
            location=location,
            labels=labels,
            firewall_ids=[firewall.id.apply(int)],
            public_nets=[hcloud.ServerPublicNetArgs(ipv4_enabled=True, ipv6_enabled=True)],
            user_data=pulumi.Output.secret(user_data),
            shutdown_before_deletion=True,
            opts=pulumi.ResourceOptions(
                ignore_changes=["user_data"],
                additional_secret_outputs=["user_data"],
            ),
        )
        attachment = hcloud.VolumeAttachment(
            "volume-attachment",
            server_id=server.id.apply(int),
            volume_id=volume.id.apply(int),
            automount=False,
        )
        pulumi.export("ipv4", server.ipv4_address)
        pulumi.export("ipv6", server.ipv6_address)
        pulumi.export("server_id", server.id)
    else:
        pulumi.export("ipv4", "")
        pulumi.export("ipv6", "")
        pulumi.export("server_id", "")
    pulumi.export("volume_id", volume.id)
    pulumi.export("firewall_id", firewall.id)
    return DeskResources(firewall, volume, server, attachment)


def desk_program(config: DeskInfraConfig) -> Callable[[], None]:
    """An inline program for the Automation API (``pulumi.automation`` ``program=``)."""

    def program() -> None:
        build_desk(config)

    return program


def standalone_program() -> None:
    """Entry point for ``pulumi up`` from a project directory: settings from stack config."""
    build_desk(DeskInfraConfig.from_pulumi_config(pulumi.Config(CONFIG_NAMESPACE)))
