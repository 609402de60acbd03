"""Memory around runs (``hooks.RunHooks``): recall before, remember after.

Before a run, the ``top_k`` memories most relevant to the new user message, from *other*
threads and scoring at least ``min_score``, are given to the loop (it adds them to the system
prompt). After a completed run, the exchange (user message + final answer) is stored with its
thread id and time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from bureau_agent.config import AgentConfig
from bureau_agent.memory.store import MAX_TEXT, Memory, MemoryStore

log = logging.getLogger(__name__)

USER_SHARE = 1500


@dataclass(frozen=True)
class MemorySettings:
    enabled: bool = True
    top_k: int = 3
    min_score: float = 0.3
    max_items: int = 5000

    @classmethod
    def from_config(cls, config: AgentConfig) -> MemorySettings:
        """The ``BUREAU_MEMORY*`` settings (environment or ``--config`` file, validated there)."""
        return cls(
            enabled=config.memory == "on",
            top_k=config.memory_top_k,
            min_score=config.memory_min_score,
            max_items=config.memory_max_items,
        )


def exchange_text(user_text: str, answer_text: str) -> str:
    user = user_text.strip()[:USER_SHARE]
    answer = answer_text.strip()[: MAX_TEXT - len(user) - 20]
    return f"User: {user}\nAssistant: {answer}"


def snippet(memory: Memory) -> str:
    day = time.strftime("%Y-%m-%d", time.gmtime(memory.created_at))
    origin = "a note you saved" if memory.kind == "note" else "an earlier conversation"
    return f"({day}, {origin}) {memory.text}"


class MemoryHooks:
    def __init__(self, store: MemoryStore, settings: MemorySettings) -> None:
        self.store = store
        self.settings = settings

    async def before_run(self, thread_id: str, user_text: str) -> list[str]:
        if not user_text.strip() or self.settings.top_k == 0:
            return []
        try:
            found = await self.store.search(
                user_text,
                self.settings.top_k,
                exclude_thread=thread_id,
                min_score=self.settings.min_score,
            )
        except Exception:  # recall is best effort: never fail a run
            log.exception("memory recall failed")
            return []
        return [snippet(m) for m in found]

    async def after_run(self, thread_id: str, user_text: str, answer_text: str) -> None:
        if not user_text.strip() or not answer_text.strip():
            return
        try:
            await self.store.add(exchange_text(user_text, answer_text), thread_id, "exchange")
        except Exception:
            log.exception("storing the exchange in memory failed")
