"""Prepare a turn: the run's instructions and conversation, truncated to fit.

Truncation works on *units* so tool calls never lose their results: a unit is a user or plain
assistant message, or an assistant message with tool calls together with its tool results.
"""

from __future__ import annotations

import functools
from typing import Any

from bureau_agent.api.messages import message_text
from bureau_agent.providers.base import Message

MEMORY_HEADING = "Relevant memory from earlier conversations on this desk:"


@functools.cache
def _encoding() -> Any:
    import bpe_openai

    return bpe_openai.get_encoding("o200k_base")


def count_tokens(text: str) -> int:
    if not text:
        return 0
    return len(_encoding().encode(text))


def message_tokens(message: Message) -> int:
    total = 4 + count_tokens(message.content)
    for call in message.tool_calls:
        total += 4 + count_tokens(call.name) + count_tokens(call.arguments)
    return total


def prompt_tokens(instructions: str, messages: list[Message]) -> int:
    return count_tokens(instructions) + sum(message_tokens(m) for m in messages) + 3


def thread_messages(messages: list[dict[str, Any]], last_messages: int | None) -> list[Message]:
    """The thread as internal messages (``truncation_strategy.last_messages`` applied)."""
    items = [m for m in messages if m.get("role") in ("user", "assistant")]
    if last_messages is not None:
        items = items[-last_messages:] if last_messages > 0 else []
    out = []
    for m in items:
        text = message_text(m)
        files = [a["file_id"] for a in m.get("attachments") or []]
        if files:
            text += "\n\n(attached files: " + ", ".join(files) + ")"
        out.append(Message(role=m["role"], content=text))
    return out


def build_instructions(base: str, additional: str | None, memory: list[str]) -> str:
    parts = [base.strip()] if base and base.strip() else []
    if additional and additional.strip():
        parts.append(additional.strip())
    if memory:
        parts.append(MEMORY_HEADING + "\n" + "\n".join(f"- {m}" for m in memory))
    return "\n\n".join(parts)


def units(messages: list[Message]) -> list[list[Message]]:
    out: list[list[Message]] = []
    for m in messages:
        if m.role == "tool" and out:
            out[-1].append(m)
        else:
            out.append([m])
    return out


def drop_oldest(messages: list[Message], fraction: float = 0.5) -> list[Message]:
    """Drop the oldest ``fraction`` of units, always keeping the last one."""
    groups = units(messages)
    if len(groups) <= 1:
        return messages
    keep = max(1, len(groups) - max(1, int(len(groups) * fraction)))
    return [m for g in groups[-keep:] for m in g]


def fit_to_tokens(instructions: str, messages: list[Message], limit: int) -> list[Message] | None:
    """The newest units that fit in ``limit`` prompt tokens; None if even the last one does not."""
    groups = units(messages)
    budget = limit - count_tokens(instructions) - 3
    kept: list[list[Message]] = []
    for group in reversed(groups):
        cost = sum(message_tokens(m) for m in group)
        if cost > budget:
            break
        budget -= cost
        kept.append(group)
    if not kept:
        return None
    return [m for g in reversed(kept) for m in g]
