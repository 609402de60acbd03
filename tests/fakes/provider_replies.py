"""Scripted replies for the fake LLM provider: what a test queues, and the helpers for errors.

A reply is API-neutral: the OpenAI and Anthropic renderers turn the same ``Text`` into a chat
completion or a message, and an ``Error`` into each API's own error body. ``type``/``code`` left
as ``None`` take the API's usual value for the status (see ``provider_errors``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Text:
    """A text answer. ``chunks`` is the number of stream deltas (None = one per word).

    ``stream_error``: a stream sends the content's deltas, then this error (OpenAI's ``data:
    {"error": …}``, Anthropic's ``event: error``) and ends; a non-streamed request gets the
    error as its HTTP response.
    """

    content: str
    finish_reason: str = "stop"
    chunks: int | None = None
    delay: float = 0
    chunk_delay: float = 0
    stream_error: Error | None = None


@dataclass
class Call:
    """One tool call; ``arguments`` as a dict or a raw (possibly invalid) JSON string."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)

    def arguments_dict(self) -> dict[str, Any]:
        """The arguments as an object (Anthropic's ``input``); invalid JSON gives ``{}``."""
        if isinstance(self.arguments, dict):
            return self.arguments
        try:
            value = json.loads(self.arguments)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass
class ToolCalls:
    """Tool calls (several = parallel calls), optionally preceded by some text."""

    calls: list[Call]
    text: str | None = None
    delay: float = 0
    chunk_delay: float = 0


@dataclass
class Error:
    """An HTTP error in the API's own error shape, with extra response headers."""

    status: int
    message: str
    type: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0
    chunk_delay: float = 0


Reply = Text | ToolCalls | Error


def rate_limited(retry_after: float = 1) -> Error:
    """429 with ``retry-after`` (seconds; a fraction also sets ``retry-after-ms``)."""
    headers = {"retry-after": str(max(1, round(retry_after)))}
    if retry_after != int(retry_after):
        headers["retry-after-ms"] = str(int(retry_after * 1000))
    return Error(429, "Rate limit reached for requests. Please try again later.", headers=headers)


def invalid_key() -> Error:
    return Error(401, "Incorrect API key provided.")


def server_error() -> Error:
    return Error(500, "The server had an error while processing your request.")


def context_length_exceeded(tokens: int = 130_000, maximum: int = 128_000) -> Error:
    """OpenAI's 400 for a request above the model's context window."""
    message = (
        f"This model's maximum context length is {maximum} tokens. However, your messages "
        f"resulted in {tokens} tokens. Please reduce the length of the messages."
    )
    return Error(400, message, type="invalid_request_error", code="context_length_exceeded")


def prompt_too_long(tokens: int = 210_000, maximum: int = 200_000) -> Error:
    """Anthropic's 400 for a prompt above the model's context window."""
    message = f"prompt is too long: {tokens} tokens > {maximum} maximum"
    return Error(400, message, type="invalid_request_error")


class ReplySpecError(ValueError):
    """A reply description sent to the control endpoint is malformed."""


def _number(spec: dict[str, Any], key: str) -> float:
    value = spec.get(key, 0)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ReplySpecError(f"{key} must be a non-negative number")
    return float(value)


def _call_from_spec(spec: Any) -> Call:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ReplySpecError("each call needs a string name")
    arguments = spec.get("arguments", {})
    if not isinstance(arguments, dict | str):
        raise ReplySpecError("call arguments must be an object or a string")
    call_id = spec.get("id")
    if call_id is not None and not isinstance(call_id, str):
        raise ReplySpecError("call id must be a string")
    return Call(spec["name"], arguments, call_id)


def reply_from_spec(spec: Any) -> Reply:
    """Build a reply from its JSON description (``kind``: text, tool_calls or error)."""
    if not isinstance(spec, dict):
        raise ReplySpecError("a reply must be an object")
    kind = spec.get("kind")
    delays = {"delay": _number(spec, "delay"), "chunk_delay": _number(spec, "chunk_delay")}
    if kind == "text":
        content, chunks = spec.get("content"), spec.get("chunks")
        if not isinstance(content, str):
            raise ReplySpecError("text replies need a string content")
        if chunks is not None and (not isinstance(chunks, int) or chunks < 1):
            raise ReplySpecError("chunks must be a positive integer")
        finish = spec.get("finish_reason", "stop")
        error = None if spec.get("stream_error") is None else _error_from_spec(spec["stream_error"])
        return Text(content, str(finish), chunks, **delays, stream_error=error)
    if kind == "tool_calls":
        calls = spec.get("calls")
        if not isinstance(calls, list) or not calls:
            raise ReplySpecError("tool_calls replies need a non-empty calls list")
        text = spec.get("text")
        return ToolCalls([_call_from_spec(c) for c in calls], text, **delays)
    if kind == "error":
        return _error_from_spec(spec)
    raise ReplySpecError("kind must be one of text, tool_calls, error")


def _error_from_spec(spec: Any) -> Error:
    if not isinstance(spec, dict):
        raise ReplySpecError("an error must be an object")
    status, message = spec.get("status"), spec.get("message", "scripted error")
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ReplySpecError("error replies need a status between 400 and 599")
    headers = spec.get("headers") or {}
    if not isinstance(headers, dict):
        raise ReplySpecError("headers must be an object")
    return Error(
        status,
        str(message),
        spec.get("type"),
        spec.get("code"),
        {str(k): str(v) for k, v in headers.items()},
        delay=_number(spec, "delay"),
        chunk_delay=_number(spec, "chunk_delay"),
    )
