"""Execute a turn's tool calls: built-ins in parallel, each as an entry of one run step."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any

from bureau_agent.providers.base import ToolCall
from bureau_agent.tools.base import Tool, ToolContext, ToolError, ToolResult

log = logging.getLogger(__name__)


@dataclass
class CallOutcome:
    call: ToolCall
    output: str
    details: dict[str, Any]
    citations: dict[str, str]


def placeholder(call: ToolCall, tool: Tool | None) -> dict[str, Any]:
    """The step entry shown while a call runs (OpenAI's shape per tool type)."""
    if tool is not None and tool.assistant_type == "code_interpreter":
        return {
            "id": call.id,
            "type": "code_interpreter",
            "code_interpreter": {"input": "", "outputs": []},
        }
    if tool is not None and tool.assistant_type == "file_search":
        return {"id": call.id, "type": "file_search", "file_search": {}}
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments, "output": None},
    }


def _parse(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except ValueError as exc:
        raise ToolError(f"the arguments are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ToolError("the arguments must be a JSON object")
    return value


async def invoke_one(call: ToolCall, tool: Tool | None, ctx: ToolContext) -> CallOutcome:
    """Run one call under the error policy of ``tools.base`` (other exceptions propagate)."""
    if tool is None:
        output = f"Error: there is no tool named {call.name!r}."
        result = ToolResult(output)
    else:
        try:
            raw = await tool.invoke(_parse(call.arguments), ctx)
            result = raw if isinstance(raw, ToolResult) else ToolResult(str(raw))
        except ToolError as exc:
            result = ToolResult(f"Error: {exc}")
    details = dict(result.step_details) if result.step_details else placeholder(call, None)
    details["id"] = call.id
    if details.get("type") == "function":
        details["function"] = {
            "name": call.name,
            "arguments": call.arguments,
            "output": result.output,
        }
    return CallOutcome(
        call, result.output, details, {c.marker: c.file_id for c in result.citations}
    )


def with_config(
    ctx: ToolContext, tool: Tool | None, run_tools: list[dict[str, Any]]
) -> ToolContext:
    """The context of one call: ``tool_config`` = the run's entry for the tool's type."""
    if tool is None or tool.assistant_type is None:
        return ctx
    entry = next((t for t in run_tools if t.get("type") == tool.assistant_type), {})
    return dataclasses.replace(ctx, tool_config=entry)


async def invoke_all(
    calls: list[tuple[ToolCall, Tool | None]],
    ctx: ToolContext,
    parallel: bool,
    run_tools: list[dict[str, Any]],
) -> list[CallOutcome]:
    calls_ctx = [(c, t, with_config(ctx, t, run_tools)) for c, t in calls]
    if parallel:
        return list(await asyncio.gather(*(invoke_one(c, t, x) for c, t, x in calls_ctx)))
    return [await invoke_one(c, t, x) for c, t, x in calls_ctx]
