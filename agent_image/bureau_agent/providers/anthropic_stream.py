"""Folds Anthropic message stream events into text deltas and one final ``ModelResponse``."""

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

    def feed(self, event: Any) -> str | None:
        kind = event.type
        if kind == "message_start":
            usage = event.message.usage
            self.input_tokens = (usage.input_tokens or 0) if usage else 0
        elif kind == "content_block_start":
            block = event.content_block
            self.blocks[event.index] = _Block(
                kind=block.type, id=getattr(block, "id", ""), name=getattr(block, "name", "")
            )
        elif kind == "content_block_delta":
            delta = event.delta
            block = self.blocks.setdefault(event.index, _Block(kind="text"))
            if delta.type == "text_delta":
                block.parts.append(delta.text)
                return str(delta.text)
            if delta.type == "input_json_delta":
                block.parts.append(delta.partial_json)
        elif kind == "message_delta":
            if event.delta.stop_reason:
                self.stop_reason = event.delta.stop_reason
            if event.usage is not None:
                self.output_tokens = event.usage.output_tokens or self.output_tokens
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


async def fold_anthropic_stream(events: AsyncIterator[Any]) -> AsyncIterator[StreamEvent]:
    state = AnthropicStreamState()
    async for event in events:
        text = state.feed(event)
        if text:
            yield TextDelta(text)
    yield Completed(state.response())
