"""Where uploaded bytes live: ``<data dir>/files/<file id>`` (0600), written by ``upload``."""

from __future__ import annotations

import os
from pathlib import Path


class FileStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def path(self, file_id: str) -> Path:
        if "/" in file_id or file_id.startswith("."):
            raise ValueError(f"bad file id {file_id!r}")
        return self.root / file_id

    def partial(self, file_id: str) -> Path:
        return self.root / f".{file_id}.part"

    def remove(self, file_id: str) -> None:
        self.path(file_id).unlink(missing_ok=True)
