"""Anthropic's Messages API through the official ``anthropic`` SDK, with native tool_use.

``ASSISTANT_CHAT_COMPLETION_ENDPOINT`` is the full messages URL; ``/v1/messages`` is cut off for
the SDK's base URL. SDK retries are off (``retry.RetryingModel`` owns them); every SDK exception
is translated here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2

from bureau_agent.providers.anthropic_convert import request_to_anthropic
from bureau_agent.providers.anthropic_stream import fold_anthropic_stream
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
from bureau_agent.providers.retry_after import retry_after_seconds
from bureau_agent.providers.sse import sse_json

_CONTEXT = re.compile(r"prompt is too long|context window|too many tokens", re.IGNORECASE)


def base_url_from_messages_endpoint(endpoint: str) -> str:
    url = endpoint.rstrip("/")
    for suffix in ("/v1/messages", "/messages"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def translate_anthropic_error(exc: Exception) -> ProviderError:
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderUnavailable("the provider did not answer in time")
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderUnavailable(f"could not reach the provider: {exc.__cause__ or exc}")
    if not isinstance(exc, anthropic.APIStatusError):
        return ProviderError(f"provider call failed: {exc}")
    status = exc.status_code
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error", {}) if isinstance(body, dict) else {}
    message = str(err.get("message") or exc.message) if isinstance(err, dict) else exc.message
    kind = str(err.get("type", "")) if isinstance(err, dict) else ""
    headers = dict(exc.response.headers) if exc.response is not None else {}
    detail = f"{message} (HTTP {status})"
    if status in (401, 403):
        return AuthenticationFailed(f"The provider rejected the API key: {detail}", status=status)
    if status == 402 or "credit balance" in message.lower():
        return QuotaExceeded(f"The provider account is out of credit or quota: {detail}")
    if status == 429:
        return RateLimited(f"Rate limited: {detail}", retry_after=retry_after_seconds(headers))
    if status == 404 or kind == "not_found_error":
        return ModelNotFound(f"The provider does not know this model: {detail}", status=status)
    if status in (400, 413) and _CONTEXT.search(message):
        return ContextLengthExceeded(detail, status=status)
    if status >= 500:
        return ProviderUnavailable(
            f"Provider error: {detail}", status=status, retry_after=retry_after_seconds(headers)
        )
    return BadRequest(f"The provider refused the request: {detail}", status=status)


def translate_stream_error(error: Any) -> ProviderError:
    """An ``event: error`` inside a stream (e.g. ``overloaded_error``)."""
    body = error if isinstance(error, dict) else {"message": str(error)}
    message = str(body.get("message") or "the provider stream failed")
    kind = str(body.get("type") or "")
    if kind == "rate_limit_error":
        return RateLimited(f"Rate limited: {message}")
    if kind in ("overloaded_error", "api_error", ""):
        return ProviderUnavailable(f"Provider error during the stream: {message}")
    return ProviderError(f"Provider error during the stream: {message} ({kind})")


class AnthropicMessagesModel:
    def __init__(
        self,
        *,
        api_key: str,
        endpoint: str,
        timeout: float,
    ) -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url_from_messages_endpoint(endpoint),
            timeout=timeout,
            max_retries=0,
        )

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        body = request_to_anthropic(request)
        extra = body.pop("extra_body", {})
        required = {"model": body["model"], "max_tokens": body["max_tokens"], "stream": True}
        try:
            # Wire-shaped already: as extra_body, the SDK skips its per-message type transform.
            raw = self._client.messages.with_streaming_response.create(
                **required, messages=[], extra_body={**body, **extra}
            )
            async with raw as response:
                events = sse_json(response.iter_lines())
                async for event in fold_anthropic_stream(events, translate_stream_error):
                    yield event
        except anthropic.AnthropicError as exc:
            raise translate_anthropic_error(exc) from None
        except httpx2.HTTPError as exc:  # the SDKs' transport
            raise ProviderUnavailable(f"the provider stream broke: {exc}") from None

    async def aclose(self) -> None:
        await self._client.close()
