"""infra: the Pulumi program for one desk on Hetzner Cloud (run by the hcloud driver)."""

from __future__ import annotations

from infra.config import DeskInfraConfig, InfraConfigError
from infra.desk import DeskResources, build_desk, desk_program, firewall_rules

__all__ = [
    "DeskInfraConfig",
    "DeskResources",
    "InfraConfigError",
    "build_desk",
    "desk_program",
    "firewall_rules",
]
