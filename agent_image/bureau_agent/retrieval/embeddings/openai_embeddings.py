"""Embeddings over OpenAI's ``/embeddings`` wire format (OpenAI, OpenRouter, custom endpoints)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bureau_agent.retrieval.errors import EmbeddingsError

DEFAULT_ENDPOINTS = {
    "openai": "https://api.openai.com/v1/embeddings",
    "openrouter": "https://openrouter.ai/api/v1/embeddings",
}
MAX_INPUTS_PER_REQUEST = 128
MAX_CHARS_PER_REQUEST = 400_000  # well under the providers' 300k-token request ceiling


@dataclass(frozen=True)
class EmbeddingsConfig:
    provider: str
    model: str
    api_key: str
    endpoint: str | None = None

    @property
    def url(self) -> str:
        if self.endpoint:
            return self.endpoint
        try:
            return DEFAULT_ENDPOINTS[self.provider]
        except KeyError:
            raise EmbeddingsError(
                f"EMBEDDINGS_ENDPOINT is required for provider {self.provider!r}", transient=False
            ) from None


def batches(texts: Sequence[str]) -> list[list[int]]:
    """Index batches: at most ``MAX_INPUTS_PER_REQUEST`` inputs and ``MAX_CHARS_PER_REQUEST``."""
    out: list[list[int]] = []
    current: list[int] = []
    chars = 0
    for i, text in enumerate(texts):
        if current and (
            len(current) >= MAX_INPUTS_PER_REQUEST or chars + len(text) > MAX_CHARS_PER_REQUEST
        ):
            out.append(current)
            current, chars = [], 0
        current.append(i)
        chars += len(text)
    if current:
        out.append(current)
    return out


class OpenAIEmbedder:
    """``Embedder`` through the official SDK; the SDK retries 429/5xx with backoff."""

    def __init__(
        self,
        config: EmbeddingsConfig,
        *,
        max_retries: int = 4,
        timeout: float = 60.0,
        concurrency: int = 4,
    ) -> None:
        self.config = config
        self._url = config.url
        import openai  # the SDK loads on first use of embeddings

        self._client = openai.AsyncOpenAI(
            api_key=config.api_key or "unused",
            base_url=self._url.rsplit("/", 1)[0],
            max_retries=max_retries,
            timeout=timeout,
        )
        self._gate = asyncio.Semaphore(concurrency)

    @property
    def space(self) -> str:
        return f"{self.config.provider}:{self.config.model}"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        groups = batches(texts)
        results = await asyncio.gather(*(self._request([texts[i] for i in g]) for g in groups))
        return [vector for group in results for vector in group]

    async def _request(self, inputs: list[str]) -> list[list[float]]:
        import openai
        from openai.types import CreateEmbeddingResponse

        async with self._gate:
            try:
                response = await self._client.post(
                    self._url,
                    body={"model": self.config.model, "input": inputs, "encoding_format": "float"},
                    cast_to=CreateEmbeddingResponse,
                )
            except openai.APIStatusError as exc:
                transient = exc.status_code == 429 or exc.status_code >= 500
                raise EmbeddingsError(
                    f"embeddings provider answered HTTP {exc.status_code}: {_short(exc.message)}",
                    transient=transient,
                ) from None
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                raise EmbeddingsError(
                    f"embeddings provider unreachable: {exc}", transient=True
                ) from None
            except openai.OpenAIError as exc:
                raise EmbeddingsError(
                    f"embeddings request failed: {exc}", transient=False
                ) from None
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(inputs):
            raise EmbeddingsError(
                f"embeddings provider returned {len(data)} vectors for {len(inputs)} inputs",
                transient=False,
            )
        return [list(item.embedding) for item in data]

    async def close(self) -> None:
        await self._client.close()


_KEYLIKE = re.compile(r"(sk|key|token)[-_][A-Za-z0-9_\-*]{6,}", re.IGNORECASE)


def _short(message: str, limit: int = 300) -> str:
    """The provider's message, trimmed, with anything shaped like a key scrubbed."""
    message = _KEYLIKE.sub("[redacted]", message)
    return message if len(message) <= limit else message[:limit] + "…"
