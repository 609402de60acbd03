"""The web package's public names (what the app factory may import)."""

from __future__ import annotations

import orchestrator.web


def test_public_names_are_pinned() -> None:
    assert orchestrator.web.__all__ == ["STATIC_PATH", "mount_web"]
