"""OpenAI Chat Completions through the official ``openai`` SDK: OpenAI, OpenRouter, custom.

``ASSISTANT_CHAT_COMPLETION_ENDPOINT`` is the full chat URL (as in Grist); the SDK wants the base,
so ``/chat/completions`` is cut off. The SDK's own retries are off: ``retry.RetryingModel`` owns
them. Every SDK exception is translated here (``translate_openai_error``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai

from bureau_agent.providers.base import ModelRequest, StreamEvent
from bureau_agent.providers.errors import (
    AuthenticationFailed,
    BadRequest,
    ContextLengthExceeded,
    ModelNotFound,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
)
from bureau_agent.providers.openai_convert import request_to_openai
from bureau_agent.providers.openai_stream import fold_openai_stream
from bureau_agent.providers.retry_after import retry_after_seconds
from bureau_agent.providers.sse import sse_json

_CONTEXT = re.compile(
    r"context length|context_length|maximum context|prompt is too long|too many tokens|"
    r"context window",
    re.IGNORECASE,
)


def base_url_from_chat_endpoint(endpoint: str) -> str:
    url = endpoint.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def _error_fields(exc: openai.APIStatusError) -> tuple[str, str]:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(err, dict):
        err = {}
    message = str(err.get("message") or exc.message)
    code = str(err.get("code") or err.get("type") or "")
    return message, code


def translate_openai_error(exc: Exception) -> ProviderError:
    """Map an ``openai`` SDK exception to Bureau's provider errors."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderUnavailable("the provider did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailable(f"could not reach the provider: {exc.__cause__ or exc}")
    if not isinstance(exc, openai.APIStatusError):
        return ProviderError(f"provider call failed: {exc}")
    status = exc.status_code
    message, code = _error_fields(exc)
    headers = dict(exc.response.headers) if exc.response is not None else {}
    detail = f"{message} (HTTP {status})"
    if status in (401, 403):
        return AuthenticationFailed(f"The provider rejected the API key: {detail}", status=status)
    if status == 402 or code == "insufficient_quota":
        return QuotaExceeded(f"The provider account is out of credit or quota: {detail}")
    if status == 429:
        return RateLimited(f"Rate limited: {detail}", retry_after=retry_after_seconds(headers))
    if code == "model_not_found" or (status == 404 and "model" in message.lower()):
        return ModelNotFound(f"The provider does not know this model: {detail}", status=status)
    if code == "context_length_exceeded" or (status in (400, 413) and _CONTEXT.search(message)):
        return ContextLengthExceeded(detail, status=status)
    if status >= 500:
        return ProviderUnavailable(
            f"Provider error: {detail}", status=status, retry_after=retry_after_seconds(headers)
        )
    if status == 404:
        return ModelNotFound(f"The provider endpoint or model was not found: {detail}", status=404)
    return BadRequest(f"The provider refused the request: {detail}", status=status)


def _untransformed(body: dict[str, Any]) -> dict[str, Any]:
    """The body as ``extra_body``: already in wire shape, so the SDK's per-call type-directed
    transform of every message (tens of ms on long conversations) is skipped."""
    return {"model": body["model"], "messages": [], "stream": True, "extra_body": body}


def translate_stream_error(error: Any) -> ProviderError:
    """An ``{"error": ...}`` chunk inside a stream (the HTTP status was already 200)."""
    body = error if isinstance(error, dict) else {"message": str(error)}
    message = str(body.get("message") or "the provider stream failed")
    code = str(body.get("code") or body.get("type") or "")
    if "rate_limit" in code:
        return RateLimited(f"Rate limited: {message}")
    if code == "insufficient_quota":
        return QuotaExceeded(f"The provider account is out of credit or quota: {message}")
    return ProviderUnavailable(f"Provider error during the stream: {message}")


class OpenAIChatModel:
    """One OpenAI-compatible endpoint and key."""

    def __init__(
        self,
        *,
        api_key: str,
        endpoint: str,
        timeout: float,
        provider: str = "openai",
    ) -> None:
        headers = {"X-Title": "Bureau"} if provider == "openrouter" else None
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url_from_chat_endpoint(endpoint),
            timeout=timeout,
            max_retries=0,
            default_headers=headers,
        )
        self._max_tokens_field = "max_completion_tokens" if provider == "openai" else "max_tokens"

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        body = request_to_openai(request, max_tokens_field=self._max_tokens_field)
        try:
            raw = self._client.chat.completions.with_streaming_response.create(
                **_untransformed(body)
            )
            async with raw as response:
                events = sse_json(response.iter_lines())
                async for event in fold_openai_stream(events, translate_stream_error):
                    yield event
        except openai.OpenAIError as exc:
            raise translate_openai_error(exc) from None
        except httpx2.HTTPError as exc:  # the SDKs' transport
            raise ProviderUnavailable(f"the provider stream broke: {exc}") from None

    async def aclose(self) -> None:
        await self._client.close()
