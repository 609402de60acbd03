"""The guest image of local desks: recipe in agent_image/image/, built by `bureau image build`."""

from __future__ import annotations

from orchestrator.image.builder import build_image
from orchestrator.image.errors import ImageBuildError
from orchestrator.image.manifest import Manifest
from orchestrator.image.settings import DEFAULT_IMAGE_NAME, ImageSettings
from orchestrator.image.store import installed_image

__all__ = [
    "DEFAULT_IMAGE_NAME",
    "ImageBuildError",
    "ImageSettings",
    "Manifest",
    "build_image",
    "installed_image",
]
