"""The embeddings interface: texts in, one vector per text out, in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Embedder(Protocol):
    """Embeds texts for hybrid search and memory.

    ``space`` names the vector space (provider and model): vectors from different spaces are never
    compared. ``embed`` batches internally (many inputs per request), retries 429 and 5xx, and
    raises ``EmbeddingsError`` (never an SDK exception) when the provider still fails.
    """

    @property
    def space(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def close(self) -> None: ...
