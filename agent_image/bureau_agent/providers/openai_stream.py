"""Folds OpenAI chat-completion chunks into text deltas and one final ``ModelResponse``."""

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
from bureau_agent.providers.errors import ContextLengthExceeded

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

    def feed(self, chunk: Any) -> str | None:
        """Absorb one chunk; return its text delta, if any."""
        if getattr(chunk, "usage", None) is not None:
            self.usage = Usage(
                prompt_tokens=chunk.usage.prompt_tokens or 0,
                completion_tokens=chunk.usage.completion_tokens or 0,
            )
        delta_text: str | None = None
        for choice in chunk.choices or []:
            delta = choice.delta
            if delta is not None and delta.content:
                self.text.append(delta.content)
                delta_text = (delta_text or "") + delta.content
            for tc in (delta.tool_calls if delta is not None else None) or []:
                partial = self.calls.setdefault(tc.index, _PartialCall())
                if tc.id:
                    partial.id = tc.id
                if tc.function is not None:
                    if tc.function.name:
                        partial.name += tc.function.name
                    if tc.function.arguments:
                        partial.arguments.append(tc.function.arguments)
            if choice.finish_reason:
                self.finish = choice.finish_reason
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


async def fold_openai_stream(chunks: AsyncIterator[Any]) -> AsyncIterator[StreamEvent]:
    state = OpenAIStreamState()
    async for chunk in chunks:
        text = state.feed(chunk)
        if text:
            yield TextDelta(text)
    yield Completed(state.response())
