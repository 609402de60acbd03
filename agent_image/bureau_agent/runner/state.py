"""What a run needs to continue after ``requires_action`` (even after a restart), kept in SQLite.

The conversation of the run (internal messages), the tool calls used, the model in use, the
token usage so far, and the function calls the client must answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bureau_agent.providers.base import Message, ToolCall

STATE_KIND = "thread.run.state"


@dataclass
class RunState:
    run_id: str
    model: str
    instructions: str
    """The system prompt actually sent (run instructions, additional ones, memory snippets)."""
    messages: list[Message]
    tool_calls_used: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    truncated: bool = False
    pending_step_id: str | None = None
    pending_calls: list[ToolCall] = field(default_factory=list)
    """Calls awaiting outputs: user functions (ours already answered are in ``answered``)."""
    answered: dict[str, str] = field(default_factory=dict)
    """Outputs of built-in tools run in the same turn as the pending functions."""
    citations: dict[str, str] = field(default_factory=dict)
    """marker -> file_id, collected from tool results for the final message's annotations."""
    user_text: str = ""

    def to_doc(self) -> dict[str, Any]:
        body = asdict(self)
        body["id"] = "state_" + self.run_id
        return body

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> RunState:
        messages = [
            Message(
                role=m["role"],
                content=m["content"],
                tool_calls=[ToolCall(**c) for c in m["tool_calls"]],
                tool_call_id=m["tool_call_id"],
            )
            for m in doc["messages"]
        ]
        return cls(
            run_id=doc["run_id"],
            model=doc["model"],
            instructions=doc["instructions"],
            messages=messages,
            tool_calls_used=doc["tool_calls_used"],
            prompt_tokens=doc["prompt_tokens"],
            completion_tokens=doc["completion_tokens"],
            truncated=doc["truncated"],
            pending_step_id=doc["pending_step_id"],
            pending_calls=[ToolCall(**c) for c in doc["pending_calls"]],
            answered=doc["answered"],
            citations=doc["citations"],
            user_text=doc["user_text"],
        )
