"""Installed images: ``<data_dir>/images/<name>/`` holding the disk, kernel, initrd and manifest.

Files are hard-linked from the build cache when both sit on one filesystem. A rebuild replaces
names, never inodes in place, so desks created from an older build keep their own base file.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.image.errors import ImageBuildError
from orchestrator.image.manifest import MANIFEST_NAME, Manifest, load_manifest
from orchestrator.image.steps import link_or_copy


def images_dir(data_dir: Path) -> Path:
    return data_dir / "images"


def installed_image(data_dir: Path, name: str) -> tuple[Path, Manifest] | None:
    """The installed image called ``name`` and its manifest, or None."""
    directory = images_dir(data_dir) / name
    manifest = load_manifest(directory)
    if manifest is None:
        return None
    missing = [f for f in manifest.files if not (directory / f).is_file()]
    if missing:
        raise ImageBuildError(f"image {name} in {directory} lacks {', '.join(missing)}; rebuild it")
    return directory, manifest


def install_image(built: Path, data_dir: Path, name: str) -> tuple[Path, Manifest]:
    """Make the built image in ``built`` (a cache directory) available as ``name``."""
    manifest = load_manifest(built)
    if manifest is None:
        raise ImageBuildError(f"{built} holds no finished image")
    target = images_dir(data_dir) / name
    current = load_manifest(target)
    if current is not None and current.key == manifest.key:
        return target, current
    target.mkdir(parents=True, exist_ok=True)
    (target / MANIFEST_NAME).unlink(missing_ok=True)
    for filename in manifest.files:
        link_or_copy(built / filename, target / filename)
    renamed = manifest.model_copy(update={"name": name})
    renamed.save(target)
    return target, renamed
