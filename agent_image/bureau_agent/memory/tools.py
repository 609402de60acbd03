"""The model's memory tools: ``memory_search`` and ``remember`` (desk built-ins)."""

from __future__ import annotations

from typing import Any

from bureau_agent.memory.store import MAX_TEXT, MemoryStore
from bureau_agent.tools.base import Tool, ToolContext, ToolError


def memory_tools(store: MemoryStore) -> list[Tool]:
    async def search(args: dict[str, Any], ctx: ToolContext) -> str:
        query = args.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("'query' must be a non-empty string")
        limit = args.get("limit", 5)
        if not isinstance(limit, int) or not 1 <= limit <= 20:
            limit = 5
        found = await store.search(query, limit)
        if not found:
            return "No memories match."
        lines = []
        for m in found:
            where = "this thread" if m.thread_id == ctx.thread_id else (m.thread_id or "a note")
            lines.append(f"- [{m.id}, {where}, score {m.score:.2f}] {m.text}")
        return "\n".join(lines)

    async def remember(args: dict[str, Any], ctx: ToolContext) -> str:
        text = args.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ToolError("'text' must be a non-empty string")
        if len(text) > MAX_TEXT:
            raise ToolError(f"'text' is longer than {MAX_TEXT} characters; save a summary")
        memory = await store.add(text, ctx.thread_id, "note")
        return f"Saved to memory as {memory.id}."

    return [
        Tool(
            name="memory_search",
            description=(
                "Search your persistent memory: earlier conversations with this user (in any "
                "thread) and notes you saved with `remember`."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to look for."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
                },
                "required": ["query"],
            },
            invoke=search,
        ),
        Tool(
            name="remember",
            description=(
                "Save a fact worth keeping across conversations (a preference, a decision, a "
                "path). Keep it short and self-contained."
            ),
            parameters={
                "type": "object",
                "properties": {"text": {"type": "string", "description": "The fact to keep."}},
                "required": ["text"],
            },
            invoke=remember,
        ),
    ]
