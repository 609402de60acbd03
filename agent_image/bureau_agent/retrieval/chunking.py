"""Token-window chunking with the OpenAI tokenizer (bpe-openai, tiktoken-compatible, offline).

OpenAI's chunking strategies: ``auto`` is 800 tokens with 400 of overlap, reported back as
``static``; ``static`` takes ``max_chunk_size_tokens`` (100 … 4096) and ``chunk_overlap_tokens``
(at most half of the chunk size). Validation lives in ``ChunkingStrategy.parse`` so routers and
the ingestion queue share it.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any

from bureau_agent.retrieval.errors import InvalidRequest

AUTO_MAX_TOKENS = 800
AUTO_OVERLAP_TOKENS = 400
MIN_CHUNK_TOKENS = 100
MAX_CHUNK_TOKENS = 4096
ENCODING_NAME = "o200k_base"


@functools.cache
def encoding() -> Any:
    """The shared tokenizer, loaded on first use (the rank tables ship with bpe-openai)."""
    with warnings.catch_warnings():
        # bpe-openai 0.1.4 loads its rank tables with importlib.resources.open_binary (deprecated).
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai

        return bpe_openai.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    return len(encoding().encode_ordinary(text))


@dataclass(frozen=True)
class ChunkingStrategy:
    """A validated static strategy (``auto`` resolves to 800/400)."""

    max_chunk_size_tokens: int = AUTO_MAX_TOKENS
    chunk_overlap_tokens: int = AUTO_OVERLAP_TOKENS

    @classmethod
    def parse(cls, raw: Any, param: str = "chunking_strategy") -> ChunkingStrategy:
        """Validate OpenAI's ``chunking_strategy`` body; raise ``InvalidRequest`` with ``param``."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise InvalidRequest("chunking_strategy must be an object.", param)
        kind = raw.get("type")
        if kind == "auto":
            return cls()
        if kind != "static":
            raise InvalidRequest(
                f"Invalid chunking_strategy type {kind!r}: expected 'auto' or 'static'.",
                f"{param}.type",
            )
        static = raw.get("static")
        if not isinstance(static, dict):
            raise InvalidRequest("A static chunking_strategy needs 'static'.", f"{param}.static")
        size = static.get("max_chunk_size_tokens")
        overlap = static.get("chunk_overlap_tokens")
        size_param = f"{param}.static.max_chunk_size_tokens"
        overlap_param = f"{param}.static.chunk_overlap_tokens"
        if (
            not isinstance(size, int)
            or isinstance(size, bool)
            or not (MIN_CHUNK_TOKENS <= size <= MAX_CHUNK_TOKENS)
        ):
            raise InvalidRequest(
                f"max_chunk_size_tokens must be an integer between {MIN_CHUNK_TOKENS} and "
                f"{MAX_CHUNK_TOKENS}, got {size!r}.",
                size_param,
            )
        if not isinstance(overlap, int) or isinstance(overlap, bool) or overlap < 0:
            raise InvalidRequest(
                f"chunk_overlap_tokens must be a non-negative integer, got {overlap!r}.",
                overlap_param,
            )
        if overlap > size // 2:
            raise InvalidRequest(
                f"chunk_overlap_tokens ({overlap}) must not exceed half of "
                f"max_chunk_size_tokens ({size}).",
                overlap_param,
            )
        return cls(size, overlap)

    def to_api(self) -> dict[str, Any]:
        """The shape OpenAI reports back (``auto`` included: it is reported as static)."""
        return {
            "type": "static",
            "static": {
                "max_chunk_size_tokens": self.max_chunk_size_tokens,
                "chunk_overlap_tokens": self.chunk_overlap_tokens,
            },
        }


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    tokens: int


def chunk_text(text: str, strategy: ChunkingStrategy) -> list[Chunk]:
    """Split ``text`` into overlapping token windows; whitespace-only windows are dropped."""
    enc = encoding()
    tokens = enc.encode_ordinary(text)
    size = strategy.max_chunk_size_tokens
    step = size - strategy.chunk_overlap_tokens
    chunks: list[Chunk] = []
    start = 0
    while start < len(tokens):
        window = tokens[start : start + size]
        piece = enc.decode(window)
        if piece.strip():
            chunks.append(Chunk(len(chunks), piece, len(window)))
        if start + size >= len(tokens):
            break
        start += step
    return chunks
