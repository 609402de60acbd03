"""``shell``: a command in the workspace, as the unprivileged tool user."""

from __future__ import annotations

import shutil
from typing import Any

from bureau_agent.tools.base import Tool, ToolContext, ToolError
from bureau_agent.tools.process import run_process
from bureau_agent.tools.sandbox import Sandbox

PARAMETERS = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "description": "The shell command line (bash -c)."},
        "timeout": {
            "type": "number",
            "description": "Seconds before the command is killed (default and maximum: the "
            "desk's tool timeout).",
        },
    },
    "required": ["command"],
}


def shell_tool(sandbox: Sandbox) -> Tool:
    shell = shutil.which("bash") or "/bin/sh"

    async def invoke(args: dict[str, Any], ctx: ToolContext) -> str:
        command = args.get("command", args.get("cmd"))
        if not isinstance(command, str) or not command.strip():
            raise ToolError("'command' must be a non-empty string")
        timeout = ctx.timeout_seconds
        if isinstance(args.get("timeout"), int | float) and args["timeout"] > 0:
            timeout = min(float(args["timeout"]), timeout)
        result = await run_process(
            [shell, "-c", command],
            sandbox=sandbox,
            cwd=ctx.workspace,
            time_limit=timeout,
            output_limit=ctx.output_limit,
        )
        return result.describe(timeout)

    return Tool(
        name="shell",
        description=(
            "Run a shell command in the desk's workspace directory as the unprivileged desk user. "
            "Returns the exit code and the combined stdout/stderr (capped)."
        ),
        parameters=PARAMETERS,
        invoke=invoke,
    )
