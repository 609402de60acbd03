"""The manifest of a built guest image: what is inside, and checksums of its files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

MANIFEST_NAME = "manifest.json"
DISK_NAME = "disk.qcow2"
KERNEL_NAME = "vmlinuz"
INITRD_NAME = "initrd.img"


class ImageFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    sha256: str
    bytes: int


class Manifest(BaseModel):
    """Written last: an image directory without a manifest is an unfinished build."""

    model_config = ConfigDict(frozen=True)

    name: str
    source: Literal["offline", "online"]
    key: str
    """Cache key: hash of the recipe and of the agent sources."""
    boot: Literal["kernel", "disk"]
    """``kernel``: direct kernel boot with ``vmlinuz``/``initrd.img``; ``disk``: the disk boots."""
    kernel_cmdline: str = ""
    agent_version: str
    python_version: str
    debian_suite: str = "bookworm"
    packages: dict[str, str] = {}
    built_at: str
    build_seconds: float
    files: dict[str, ImageFile]

    def save(self, directory: Path) -> None:
        tmp = directory / (MANIFEST_NAME + ".tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n")
        tmp.replace(directory / MANIFEST_NAME)


def load_manifest(directory: Path) -> Manifest | None:
    """The manifest in ``directory``, or None when the image is absent or unfinished."""
    path = directory / MANIFEST_NAME
    if not path.is_file():
        return None
    return Manifest.model_validate(json.loads(path.read_text()))


def file_entry(path: Path) -> ImageFile:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return ImageFile(sha256=digest.hexdigest(), bytes=path.stat().st_size)
