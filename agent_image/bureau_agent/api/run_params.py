"""Run request bodies: validation against the limits and the run object they produce."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from bureau_agent.api import validation as v
from bureau_agent.api.errors import invalid, not_found
from bureau_agent.api.messages import MessageFields
from bureau_agent.ids import new_id
from bureau_agent.services import Services

MIN_TOKEN_LIMIT = 256


class RunFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assistant_id: str
    model: str | None = None
    instructions: str | None = None
    additional_instructions: str | None = None
    additional_messages: list[MessageFields] | None = None
    tools: list[Any] | None = None
    metadata: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: dict[str, Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: Any = None
    reasoning_effort: str | None = None


def _check_truncation(value: dict[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {"type": "auto", "last_messages": None}
    kind = value.get("type")
    if kind not in ("auto", "last_messages"):
        raise invalid("truncation_strategy.type", "Expected 'auto' or 'last_messages'.")
    last = value.get("last_messages")
    if kind == "last_messages":
        if not isinstance(last, int) or isinstance(last, bool) or last < 1:
            raise invalid(
                "truncation_strategy.last_messages",
                "Invalid 'truncation_strategy.last_messages': expected an integer >= 1.",
            )
    return {"type": kind, "last_messages": last if kind == "last_messages" else None}


def _check_tool_choice(value: Any, tools: list[dict[str, Any]]) -> Any:
    if value is None:
        return "auto"
    if value in ("none", "auto", "required"):
        return value
    if not isinstance(value, dict):
        raise invalid("tool_choice", "Expected 'none', 'auto', 'required' or an object.")
    kind = value.get("type")
    if kind in ("file_search", "code_interpreter"):
        if not any(t["type"] == kind for t in tools):
            raise invalid("tool_choice", f"Invalid 'tool_choice': the run has no {kind} tool.")
        return {"type": kind}
    if kind == "function":
        name = (value.get("function") or {}).get("name")
        if not any(t["type"] == "function" and t["function"]["name"] == name for t in tools):
            raise invalid(
                "tool_choice.function.name",
                f"Invalid 'tool_choice': no function named '{name}' among the run's tools.",
            )
        return {"type": "function", "function": {"name": name}}
    raise invalid("tool_choice.type", "Expected 'function', 'file_search' or 'code_interpreter'.")


def _check_token_limit(value: int | None, param: str) -> None:
    if value is not None and value < MIN_TOKEN_LIMIT:
        raise invalid(param, f"Invalid '{param}': {value}. Expected a value >= {MIN_TOKEN_LIMIT}.")


async def build_run(services: Services, thread_id: str, body: RunFields) -> dict[str, Any]:
    """Validate ``body`` against its assistant and return the new run (not yet stored)."""
    assistant = await services.docs.get("assistant", body.assistant_id)
    if assistant is None:
        raise not_found("assistant", body.assistant_id)
    v.check_length(body.instructions, "instructions", v.MAX_INSTRUCTIONS)
    v.check_length(body.additional_instructions, "additional_instructions", v.MAX_INSTRUCTIONS)
    v.check_metadata(body.metadata)
    v.check_range(body.temperature, "temperature", 0.0, 2.0)
    v.check_range(body.top_p, "top_p", 0.0, 1.0)
    _check_token_limit(body.max_prompt_tokens, "max_prompt_tokens")
    _check_token_limit(body.max_completion_tokens, "max_completion_tokens")
    tools = v.normalize_tools(body.tools) if body.tools is not None else assistant["tools"]
    fmt = (
        v.normalize_response_format(body.response_format)
        if body.response_format is not None
        else assistant.get("response_format", "auto")
    )
    instructions = (
        body.instructions if body.instructions is not None else assistant.get("instructions")
    )
    instructions = instructions or ""
    if body.additional_instructions:
        instructions = (instructions + "\n\n" + body.additional_instructions).strip()
    now = services.now()
    return {
        "id": new_id("run"),
        "object": "thread.run",
        "created_at": now,
        "assistant_id": assistant["id"],
        "thread_id": thread_id,
        "status": "queued",
        "started_at": None,
        "expires_at": now + services.config.run_expiry_seconds,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "required_action": None,
        "last_error": None,
        "model": body.model or assistant["model"],
        "instructions": instructions,
        "tools": tools,
        "metadata": body.metadata or {},
        "usage": None,
        "temperature": body.temperature
        if body.temperature is not None
        else assistant.get("temperature"),
        "top_p": body.top_p if body.top_p is not None else assistant.get("top_p"),
        "max_prompt_tokens": body.max_prompt_tokens,
        "max_completion_tokens": body.max_completion_tokens,
        "truncation_strategy": _check_truncation(body.truncation_strategy),
        "incomplete_details": None,
        "response_format": fmt,
        "tool_choice": _check_tool_choice(body.tool_choice, tools),
        "parallel_tool_calls": body.parallel_tool_calls
        if body.parallel_tool_calls is not None
        else True,
        "reasoning_effort": body.reasoning_effort,
    }
