"""Build an image from a source (offline or online) and install it into a data directory."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from orchestrator.image.manifest import Manifest
from orchestrator.image.offline import build_offline
from orchestrator.image.online import build_online
from orchestrator.image.settings import ImageSettings
from orchestrator.image.steps import BuildProgress, exclusive, prune_cache
from orchestrator.image.store import install_image

Source = Literal["offline", "online"]


def build_image(
    data_dir: Path,
    *,
    name: str,
    source: Source = "offline",
    settings: ImageSettings | None = None,
    progress: BuildProgress = lambda line: None,
    force: bool = False,
) -> tuple[Path, Manifest]:
    """Build (or reuse from the cache) and install the image; return its directory + manifest."""
    settings = settings or ImageSettings()
    with exclusive(settings.cache / ".build.lock"):
        if source == "offline":
            built = build_offline(settings, name, progress, force=force)
        else:
            built = build_online(settings, name, progress, force=force)
        prune_cache(settings.cache)
    return install_image(built, data_dir, name)
