"""The provider boundary: one internal message/tool format and a ``Model`` that streams a turn.

Adapters (``openai_chat``, ``anthropic_messages``) convert to and from their wire format, call the
official SDK, and translate every SDK exception into a ``ProviderError`` subclass (``errors``).
Nothing above an adapter sees an SDK type or exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    """JSON text, exactly as the model produced it."""


@dataclass
class Message:
    """One conversation item. ``tool`` messages answer ``tool_call_id``."""

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    strict: bool = False


ToolChoice = Literal["auto", "none", "required"] | str
"""``auto`` | ``none`` | ``required`` | the name of one tool the model must call."""


@dataclass
class ModelSettings:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    tool_choice: ToolChoice = "auto"
    parallel_tool_calls: bool = True
    response_format: dict[str, Any] | None = None
    """None (text), ``{"type": "json_object"}`` or ``{"type": "json_schema", ...}``."""


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


FinishReason = Literal["stop", "tool_calls", "length", "content_filter"]


@dataclass
class ModelResponse:
    text: str
    tool_calls: list[ToolCall]
    usage: Usage
    finish_reason: FinishReason


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Completed:
    response: ModelResponse


StreamEvent = TextDelta | Completed


@dataclass(frozen=True)
class ModelRequest:
    model: str
    instructions: str
    messages: list[Message]
    tools: list[ToolSpec]
    settings: ModelSettings


class Model(Protocol):
    """One provider endpoint with one key.

    ``stream`` yields ``TextDelta`` as text arrives and ends with exactly one ``Completed``. It
    raises ``ProviderError`` subclasses only, before or during the stream. The caller owns the
    iterator and closes it (``aclose``) when it stops early.
    """

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...
