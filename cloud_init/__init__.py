"""cloud_init: a desk's settings in, its ``#cloud-config`` out (pure functions, no I/O)."""

from __future__ import annotations

from cloud_init.checks import UserDataError
from cloud_init.render import RenderedUserData, render_desk
from cloud_init.settings import AgentBootConfig, AgentDist, DeskBootSettings

__all__ = [
    "AgentBootConfig",
    "AgentDist",
    "DeskBootSettings",
    "RenderedUserData",
    "UserDataError",
    "render_desk",
]
