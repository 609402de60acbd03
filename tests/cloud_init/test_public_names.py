"""The names cloud_init and infra export: other areas import these, so changes are deliberate."""

from __future__ import annotations

import cloud_init
import infra


def test_cloud_init_exports() -> None:
    assert sorted(cloud_init.__all__) == [
        "AgentBootConfig",
        "AgentDist",
        "DeskBootSettings",
        "RenderedUserData",
        "UserDataError",
        "render_desk",
    ]


def test_infra_exports() -> None:
    assert sorted(infra.__all__) == [
        "DeskInfraConfig",
        "DeskResources",
        "InfraConfigError",
        "build_desk",
        "desk_program",
        "firewall_rules",
    ]
