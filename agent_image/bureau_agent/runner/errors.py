"""How a run ends early: one exception root for the loop's own outcomes."""

from __future__ import annotations


class RunEnded(Exception):
    """Base: the loop stops; the manager records the outcome."""


class RunFailed(RunEnded):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RunIncomplete(RunEnded):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
