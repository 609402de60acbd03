"""The image builder's one exception (subprocess failures are translated into it)."""

from __future__ import annotations


class ImageBuildError(Exception):
    """The image could not be built; the message says what failed and what to do."""
