"""Registers the desk's built-in tools."""

from __future__ import annotations

from bureau_agent.services import Services


def register_builtin_tools(services: Services) -> None:
    return None
