"""Internal messages/tools <-> Anthropic Messages request bodies (native tool_use blocks)."""

from __future__ import annotations

import json
from typing import Any

from bureau_agent.providers.base import Message, ModelRequest

DEFAULT_MAX_TOKENS = 4096


def _arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def messages_to_anthropic(messages: list[Message]) -> list[dict[str, Any]]:
    """Tool results become ``tool_result`` blocks of a user turn; same-role turns are merged."""
    out: list[dict[str, Any]] = []
    for m in messages:
        blocks: list[dict[str, Any]]
        if m.role == "tool":
            role = "user"
            blocks = [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}]
        elif m.role == "assistant":
            role = "assistant"
            blocks = [{"type": "text", "text": m.content}] if m.content else []
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _arguments(c.arguments)}
                for c in m.tool_calls
            ]
        else:
            role = "user"
            blocks = [{"type": "text", "text": m.content or " "}]
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def _system(request: ModelRequest) -> str:
    fmt = request.settings.response_format or {}
    system = request.instructions
    if fmt.get("type") == "json_object":
        system += "\n\nRespond with a single JSON object and nothing else."
    elif fmt.get("type") == "json_schema":
        schema = json.dumps(fmt.get("json_schema", {}).get("schema", {}))
        system += (
            "\n\nRespond with a single JSON value that validates against this JSON schema, "
            f"and nothing else:\n{schema}"
        )
    return system.strip()


def request_to_anthropic(request: ModelRequest) -> dict[str, Any]:
    """The keyword arguments of ``messages.create`` (streaming)."""
    s = request.settings
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": s.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": messages_to_anthropic(request.messages),
        "stream": True,
    }
    system = _system(request)
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in request.tools
        ]
        choice: dict[str, Any]
        if s.tool_choice == "auto":
            choice = {"type": "auto"}
        elif s.tool_choice == "required":
            choice = {"type": "any"}
        elif s.tool_choice == "none":
            choice = {"type": "none"}
        else:
            choice = {"type": "tool", "name": s.tool_choice}
        if not s.parallel_tool_calls and choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
        body["tool_choice"] = choice
    # The SDK no longer types sampling parameters; send non-default ones as extra body fields.
    extra: dict[str, Any] = {}
    if s.temperature is not None and s.temperature != 1.0:
        extra["temperature"] = min(s.temperature, 1.0)
    elif s.top_p is not None and s.top_p != 1.0:
        extra["top_p"] = s.top_p
    if extra:
        body["extra_body"] = extra
    return body
