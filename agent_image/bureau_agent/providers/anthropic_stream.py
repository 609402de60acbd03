"""Folds Anthropic message stream events (JSON) into text deltas and one ``ModelResponse``."""

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
from bureau_agent.providers.errors import ProviderError

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}


@dataclass
class _Block:
    kind: str
    id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)


@dataclass
class AnthropicStreamState:
    blocks: dict[int, _Block] = field(default_factory=dict)
    stop_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0

    def feed(self, event: dict[str, Any]) -> str | None:
        kind = event.get("type")
        if kind == "message_start":
            usage = (event.get("message") or {}).get("usage") or {}
            self.input_tokens = usage.get("input_tokens") or 0
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            self.blocks[int(event.get("index", 0))] = _Block(
                kind=str(block.get("type", "text")),
                id=str(block.get("id", "")),
                name=str(block.get("name", "")),
            )
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            block = self.blocks.setdefault(int(event.get("index", 0)), _Block(kind="text"))
            if delta.get("type") == "text_delta":
                block.parts.append(delta.get("text", ""))
                return str(delta.get("text", ""))
            if delta.get("type") == "input_json_delta":
                block.parts.append(delta.get("partial_json", ""))
        elif kind == "message_delta":
            stop = (event.get("delta") or {}).get("stop_reason")
            if stop:
                self.stop_reason = stop
            usage = event.get("usage") or {}
            self.output_tokens = usage.get("output_tokens") or self.output_tokens
        return None

    def response(self) -> ModelResponse:
        ordered = [b for _, b in sorted(self.blocks.items())]
        text = "".join("".join(b.parts) for b in ordered if b.kind == "text")
        calls = [
            ToolCall(id=b.id, name=b.name, arguments="".join(b.parts) or "{}")
            for b in ordered
            if b.kind == "tool_use"
        ]
        finish = _STOP.get(self.stop_reason or "end_turn", "stop")
        return ModelResponse(
            text=text,
            tool_calls=calls,
            usage=Usage(self.input_tokens, self.output_tokens),
            finish_reason=finish,
        )


async def fold_anthropic_stream(
    events: AsyncIterator[tuple[str | None, dict[str, Any]]],
    on_error: Any,
) -> AsyncIterator[StreamEvent]:
    """``on_error(error_body) -> ProviderError`` translates an in-stream ``error`` event."""
    state = AnthropicStreamState()
    async for _, event in events:
        if event.get("type") == "error":
            error: ProviderError = on_error(event.get("error") or {})
            raise error
        text = state.feed(event)
        if text:
            yield TextDelta(text)
    yield Completed(state.response())
