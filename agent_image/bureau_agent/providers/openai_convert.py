"""Internal messages/tools <-> OpenAI Chat Completions request bodies."""

from __future__ import annotations

from typing import Any

from bureau_agent.providers.base import Message, ModelRequest, ToolSpec


def messages_to_openai(instructions: str, messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if instructions:
        out.append({"role": "system", "content": instructions})
    for m in messages:
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        elif m.role == "assistant" and m.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    "content": m.content or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        }
                        for c in m.tool_calls
                    ],
                }
            )
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def tool_to_openai(tool: ToolSpec) -> dict[str, Any]:
    fn: dict[str, Any] = {
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
    }
    if tool.strict:
        fn["strict"] = True
    return {"type": "function", "function": fn}


JSON_NOTE = "Respond in JSON."


def _instructions(request: ModelRequest) -> str:
    """OpenAI refuses JSON mode unless a message mentions JSON: say it when nothing does."""
    fmt = request.settings.response_format or {}
    if fmt.get("type") not in ("json_object", "json_schema"):
        return request.instructions
    texts = [request.instructions, *(m.content for m in request.messages)]
    if any("json" in t.lower() for t in texts):
        return request.instructions
    return (request.instructions + "\n\n" + JSON_NOTE).strip()


def request_to_openai(request: ModelRequest, *, max_tokens_field: str) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` (streaming, with usage)."""
    s = request.settings
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages_to_openai(_instructions(request), request.messages),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = [tool_to_openai(t) for t in request.tools]
        if s.tool_choice in ("auto", "none", "required"):
            body["tool_choice"] = s.tool_choice
        else:
            body["tool_choice"] = {"type": "function", "function": {"name": s.tool_choice}}
        body["parallel_tool_calls"] = s.parallel_tool_calls
    if s.temperature is not None:
        body["temperature"] = s.temperature
    if s.top_p is not None:
        body["top_p"] = s.top_p
    if s.max_tokens is not None:
        body[max_tokens_field] = s.max_tokens
    if s.response_format is not None:
        body["response_format"] = s.response_format
    return body
