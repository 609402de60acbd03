"""The extractor interface: a file on disk in, its searchable text out."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Extractor(Protocol):
    """Turns one family of file types into plain text.

    ``suffixes`` are lower-case extensions with the dot. ``extract`` reads the file at ``path``
    (the caller owns it) and raises ``ExtractionError`` for content it cannot read; it never
    returns binary garbage.
    """

    suffixes: frozenset[str]

    def extract(self, path: Path) -> str: ...
