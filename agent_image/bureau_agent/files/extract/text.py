"""Plain text, Markdown, source code and JSON: decoded as UTF-8 (BOM tolerated)."""

from __future__ import annotations

import json
from pathlib import Path

from bureau_agent.retrieval.errors import ExtractionError

_PROSE = {".txt", ".md", ".markdown", ".rst", ".tex", ".csv", ".tsv", ".log", ".org", ".adoc"}
_CODE = {
    ".py", ".pyi", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".scala", ".go",
    ".rs", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".rb", ".php", ".swift", ".m", ".sh", ".bash",
    ".zsh", ".ps1", ".sql", ".r", ".lua", ".pl", ".hs", ".ex", ".exs", ".erl", ".clj", ".dart",
    ".vue", ".svelte", ".css", ".scss", ".less", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf",
    ".xml", ".proto", ".graphql", ".dockerfile", ".mk", ".cmake", ".gradle", ".tf", ".jl", ".nim",
    ".zig", ".ml", ".fs", ".vb", ".bat",
}  # fmt: skip
_SNIFF_BYTES = 8192


def decode_text(data: bytes) -> str:
    """UTF-8 text (with or without BOM); binary content (NUL bytes) is refused."""
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise ExtractionError("The file looks binary, not text.", code="invalid_file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExtractionError(
            f"The file is not valid UTF-8 text (byte {exc.start}).", code="invalid_file"
        ) from exc


def looks_like_text(path: Path) -> bool:
    """True when the head of the file decodes as UTF-8 without NUL bytes."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a multi-byte character cut by the sniff window
    return True


class TextExtractor:
    suffixes = frozenset(_PROSE | _CODE)

    def extract(self, path: Path) -> str:
        return decode_text(path.read_bytes())


class JsonExtractor:
    """JSON must parse; the text is kept as written (keys and values are what users search)."""

    suffixes = frozenset({".json", ".jsonl", ".ndjson", ".geojson"})

    def extract(self, path: Path) -> str:
        text = decode_text(path.read_bytes())
        lines = text.splitlines() if path.suffix.lower() in {".jsonl", ".ndjson"} else [text]
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except json.JSONDecodeError as exc:
                where = f" (line {number})" if len(lines) > 1 else ""
                raise ExtractionError(f"Invalid JSON{where}: {exc.msg}.", "invalid_file") from exc
        return text
