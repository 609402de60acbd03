"""``code_interpreter``: Python in a subprocess (tool user, timeout), with the run's files.

Files of ``tool_resources.code_interpreter.file_ids`` (and code_interpreter attachments) are
copied into the working directory ``<workspace>/.code_interpreter/<thread id>/`` under their
filenames, through the ``FileResolver`` the files extension provides.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

from bureau_agent.tools.base import Tool, ToolContext, ToolError, ToolResult
from bureau_agent.tools.process import run_process
from bureau_agent.tools.sandbox import SAFE_PATH, Sandbox


async def _stage_files(sandbox: Sandbox, ctx: ToolContext, workdir: Path) -> list[str]:
    ids = (ctx.tool_resources.get("code_interpreter") or {}).get("file_ids") or []
    if not ids or ctx.files is None:
        return []
    staged = []
    for file_id in ids:
        found = await ctx.files.local_path(file_id)
        if found is None:
            continue
        name, source = found
        target = workdir / Path(name).name
        if not target.exists():
            try:
                await asyncio.to_thread(shutil.copyfile, source, target)
            except OSError as exc:
                raise ToolError(f"could not stage {name}: {exc.strerror or exc}") from None
            sandbox.own(target)
        staged.append(target.name)
    return staged


def _python() -> str:
    """The system Python (reachable by the tool user), else the agent's own interpreter."""
    return shutil.which("python3", path=SAFE_PATH) or sys.executable


def code_interpreter_tool(sandbox: Sandbox) -> Tool:
    async def invoke(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        code = args.get("code", args.get("input"))
        if not isinstance(code, str) or not code.strip():
            raise ToolError("'code' must be a non-empty string of Python")
        workdir = ctx.workspace / ".code_interpreter" / ctx.thread_id
        for made in (workdir.parent, workdir):
            if not made.exists():
                made.mkdir(parents=True, exist_ok=True)
                sandbox.own(made)
        await _stage_files(sandbox, ctx, workdir)
        result = await run_process(
            [_python(), "-I", "-"],
            sandbox=sandbox,
            cwd=workdir,
            time_limit=ctx.timeout_seconds,
            output_limit=ctx.output_limit,
            stdin=code.encode(),
        )
        logs = result.output
        if result.truncated:
            logs += f"\n[output truncated: {result.truncated} more bytes]"
        if result.timed_out:
            logs += f"\n[killed after {ctx.timeout_seconds:g}s]"
        elif result.exit_code:
            logs += f"\n[exit code {result.exit_code}]"
        return ToolResult(
            output=logs or "(no output)",
            step_details={
                "type": "code_interpreter",
                "code_interpreter": {
                    "input": code,
                    "outputs": [{"type": "logs", "logs": logs}] if logs else [],
                },
            },
        )

    return Tool(
        name="code_interpreter",
        description=(
            "Run Python code in a sandboxed subprocess; the run's files are in the working "
            "directory. Print what you need to see."
        ),
        parameters={
            "type": "object",
            "properties": {"code": {"type": "string", "description": "Python source to run."}},
            "required": ["code"],
        },
        invoke=invoke,
        always_on=False,
        assistant_type="code_interpreter",
    )
