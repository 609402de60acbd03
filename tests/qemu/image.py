"""The guest image for VM tests: built once (cached across runs and clones), linked per data dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.image import DEFAULT_IMAGE_NAME, ImageBuildError, build_image, installed_image


def ensure_image(data_dir: Path) -> None:
    """Install the default image into ``data_dir`` (building it when the cache lacks it)."""
    if installed_image(data_dir, DEFAULT_IMAGE_NAME) is not None:
        return
    try:
        build_image(data_dir, name=DEFAULT_IMAGE_NAME, progress=print)
    except ImageBuildError as exc:
        if os.geteuid() != 0:
            pytest.skip(f"no cached guest image and not root to build one: {exc}")
        raise
