"""Text extraction by file type: one extractor per family, chosen by the file name."""

from __future__ import annotations

from pathlib import Path

from bureau_agent.files.extract.base import Extractor
from bureau_agent.files.extract.html import HtmlExtractor
from bureau_agent.files.extract.pdf import PdfExtractor
from bureau_agent.files.extract.text import JsonExtractor, TextExtractor, looks_like_text
from bureau_agent.retrieval.errors import ExtractionError

EXTRACTORS: tuple[Extractor, ...] = (
    TextExtractor(),
    JsonExtractor(),
    HtmlExtractor(),
    PdfExtractor(),
)

__all__ = ["EXTRACTORS", "extract_text", "extractor_for", "supported_suffixes"]


def supported_suffixes() -> frozenset[str]:
    return frozenset(s for e in EXTRACTORS for s in e.suffixes)


def extractor_for(filename: str, path: Path) -> Extractor:
    """The extractor for ``filename``; extension-less text files are sniffed as plain text."""
    suffix = Path(filename).suffix.lower()
    for extractor in EXTRACTORS:
        if suffix in extractor.suffixes:
            return extractor
    if not suffix and looks_like_text(path):
        return EXTRACTORS[0]
    raise ExtractionError(
        f"Files of type {suffix or '(no extension)'!r} are not supported for file search "
        "(text, Markdown, source code, JSON, HTML and PDF are).",
        code="unsupported_file",
    )


def extract_text(filename: str, path: Path) -> str:
    """The searchable text of a stored file, or ``ExtractionError`` (unsupported / invalid)."""
    text = extractor_for(filename, path).extract(path)
    if not text.strip():
        raise ExtractionError("The file contains no extractable text.", code="invalid_file")
    return text
