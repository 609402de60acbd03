"""Hooks around a run: where persistent memory plugs into the loop.

The loop calls ``before_run`` once when a run starts (its snippets are added to the system
prompt under a "Relevant memory" heading) and ``after_run`` once when a run completes with an
answer. Hooks must not raise for ordinary failures (log and return); an exception is logged and
ignored by the loop, never failing the run.
"""

from __future__ import annotations

from typing import Protocol


class RunHooks(Protocol):
    async def before_run(self, thread_id: str, user_text: str) -> list[str]:
        """Context snippets for this run (most relevant first); ``[]`` for none."""
        ...

    async def after_run(self, thread_id: str, user_text: str, answer_text: str) -> None:
        """Called after a completed run with the last user text and the final answer."""
        ...


class NoHooks:
    async def before_run(self, thread_id: str, user_text: str) -> list[str]:
        return []

    async def after_run(self, thread_id: str, user_text: str, answer_text: str) -> None:
        return None
