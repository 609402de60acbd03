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
    rules = [
        hcloud.FirewallRuleArgs(
            direction="in",
            protocol="tcp",
            port=str(config.agent_port),
            source_ips=list(config.control_plane_cidrs),
            description="bureau agent from the control plane",
        )
    ]
    if config.ssh_cidrs:
        rules.append(
            hcloud.FirewallRuleArgs(
                direction="in",
                protocol="tcp",
                port="22",
                source_ips=list(config.ssh_cidrs),
                description="ssh from the desk owner",
            )
        )
    return rules


def build_desk(config: DeskInfraConfig) -> DeskResources:
    """Declare the desk's resources and export ``ipv4``/``ipv6`` (empty when stopped)."""
    labels = config.labels
    name = config.resource_name
    firewall = hcloud.Firewall("firewall", name=name, labels=labels, rules=firewall_rules(config))
    volume = hcloud.Volume(
        "volume",
        name=name,
        size=config.volume_size_gib,
        location=config.location,
        format="ext4",
        labels=labels,
        delete_protection=False,
    )
    server = attachment = None
    if config.server_enabled:
        server = hcloud.Server(
            "server",
            name=name,
            server_type=config.server_type,
            image=config.image,
            location=config.location,
            labels=labels,
            firewall_ids=[firewall.id.apply(int)],
            public_nets=[hcloud.ServerPublicNetArgs(ipv4_enabled=True, ipv6_enabled=True)],
            user_data=pulumi.Output.secret(config.user_data),
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
    pulumi.export("desk", config.public_settings())
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
