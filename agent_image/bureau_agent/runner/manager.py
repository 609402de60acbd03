"""Owns the run tasks of this process (placeholder until the loop lands)."""

from __future__ import annotations

from typing import Any

from bureau_agent.services import Services


class RunManager:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def active_run(self, thread_id: str) -> dict[str, Any] | None:
        return None

    async def cancel_thread(self, thread_id: str) -> None:
        return None
