"""Folds OpenAI chat-completion chunks (JSON) into text deltas and one final ``ModelResponse``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from bureau_agent.providers.base import (
    Completed,
    FinishReason,
    ModelResponse,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)
from bureau_agent.providers.errors import ContextLengthExceeded, ProviderError

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class OpenAIStreamState:
    text: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    finish: str | None = None
    usage: Usage = field(default_factory=Usage)

    def feed(self, chunk: dict[str, Any]) -> str | None:
        """Absorb one chunk; return its text delta, if any."""
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(
                prompt_tokens=usage.get("prompt_tokens") or 0,
                completion_tokens=usage.get("completion_tokens") or 0,
            )
        delta_text: str | None = None
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                self.text.append(content)
                delta_text = (delta_text or "") + content
            for tc in delta.get("tool_calls") or []:
                partial = self.calls.setdefault(int(tc.get("index", 0)), _PartialCall())
                if tc.get("id"):
                    partial.id = tc["id"]
                fn = tc.get("function") or {}
                if fn.get("name"):
                    partial.name += fn["name"]
                if fn.get("arguments"):
                    partial.arguments.append(fn["arguments"])
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return delta_text

    def response(self) -> ModelResponse:
        calls = [
            ToolCall(id=p.id or f"call_{i}", name=p.name, arguments="".join(p.arguments) or "{}")
            for i, p in sorted(self.calls.items())
        ]
        finish = _FINISH.get(self.finish or "stop", "stop")
        text = "".join(self.text)
        if finish == "length" and not text and not calls:
            raise ContextLengthExceeded("the prompt filled the model's context window")
        if calls and finish == "stop":
            finish = "tool_calls"
        return ModelResponse(text=text, tool_calls=calls, usage=self.usage, finish_reason=finish)


async def fold_openai_stream(
    events: AsyncIterator[tuple[str | None, dict[str, Any]]],
    on_error: Any,
) -> AsyncIterator[StreamEvent]:
    """``on_error(error_body) -> ProviderError`` translates an in-stream ``{"error": ...}``."""
    state = OpenAIStreamState()
    async for _, chunk in events:
        if "error" in chunk:
            error: ProviderError = on_error(chunk["error"])
            raise error
        text = state.feed(chunk)
        if text:
            yield TextDelta(text)
    yield Completed(state.response())
