"""Built-in tools, called directly: exit codes, timeouts, output caps, confinement."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from bureau_agent.config import AgentConfig
from bureau_agent.tools.base import Tool, ToolContext, ToolError, ToolResult
from bureau_agent.tools.code_interpreter import code_interpreter_tool
from bureau_agent.tools.files import file_tools
from bureau_agent.tools.sandbox import Sandbox, build_sandbox
from bureau_agent.tools.shell import shell_tool


@pytest.fixture
def sandbox(agent_root: Path) -> Sandbox:
    return build_sandbox(AgentConfig(BUREAU_AGENT_DATA_DIR=agent_root / "data"))


def context(sandbox: Sandbox, timeout: float = 10, limit: int = 20_000) -> ToolContext:
    return ToolContext(
        run_id="run_1",
        thread_id="thread_1",
        assistant_id="asst_1",
        workspace=sandbox.workspace,
        env=sandbox.env(),
        tool_user=sandbox.user,
        timeout_seconds=timeout,
        output_limit=limit,
    )


def call(tool: Tool, args: dict[str, Any], ctx: ToolContext) -> str | ToolResult:
    async def invoke() -> str | ToolResult:
        return await tool.invoke(args, ctx)

    return asyncio.run(invoke())


def by_name(sandbox: Sandbox) -> dict[str, Tool]:
    return {t.name: t for t in file_tools(sandbox)}


def test_shell_reports_a_failing_exit_code(sandbox: Sandbox) -> None:
    out = call(shell_tool(sandbox), {"command": "echo oops >&2; exit 3"}, context(sandbox))
    assert out == "exit code 3\noops\n"


def test_shell_timeout_kills_the_process_group(sandbox: Sandbox) -> None:
    command = "sleep 30 & echo started; wait"
    out = call(shell_tool(sandbox), {"command": command}, context(sandbox, timeout=0.5))
    assert isinstance(out, str) and out.startswith("timed out after 0.5s") and "started" in out


def test_shell_output_is_capped(sandbox: Sandbox) -> None:
    out = call(
        shell_tool(sandbox),
        {"command": "head -c 5000 /dev/zero | tr '\\0' x"},
        context(sandbox, limit=1000),
    )
    assert isinstance(out, str) and "x" * 1000 in out and "x" * 1001 not in out
    assert "[output truncated: 4000 more bytes]" in out


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to the tool user needs root")
def test_shell_runs_as_the_tool_user(sandbox: Sandbox) -> None:
    out = call(shell_tool(sandbox), {"command": "id -un; pwd"}, context(sandbox))
    assert out == f"exit code 0\n{sandbox.user}\n{sandbox.workspace}\n"


def test_write_read_and_list_in_the_workspace(sandbox: Sandbox) -> None:
    tools, ctx = by_name(sandbox), context(sandbox)
    assert "wrote 5 bytes" in str(
        call(tools["write_file"], {"path": "a/b.txt", "content": "hello"}, ctx)
    )
    assert call(tools["read_file"], {"path": "a/b.txt"}, ctx) == "hello"
    assert call(tools["list_files"], {"path": ".", "recursive": True}, ctx) == "a/\na/b.txt\t5"


def test_files_written_by_the_agent_belong_to_the_tool_user(sandbox: Sandbox) -> None:
    call(by_name(sandbox)["write_file"], {"path": "mine.txt", "content": "x"}, context(sandbox))
    out = call(
        shell_tool(sandbox), {"command": "echo more >> mine.txt && cat mine.txt"}, context(sandbox)
    )
    assert out == "exit code 0\nxmore\n"


def test_symlink_out_of_the_workspace_is_refused(sandbox: Sandbox, agent_root: Path) -> None:
    secret = agent_root / "data" / "secret.txt"
    secret.write_text("s3cret")
    (sandbox.workspace / "link").symlink_to(secret)
    with pytest.raises(ToolError, match="outside the workspace"):
        call(by_name(sandbox)["read_file"], {"path": "link"}, context(sandbox))


def test_code_interpreter_times_out(sandbox: Sandbox) -> None:
    result = call(
        code_interpreter_tool(sandbox), {"code": "while True: pass"}, context(sandbox, timeout=0.5)
    )
    assert isinstance(result, ToolResult) and "[killed after 0.5s]" in result.output


def test_os_errors_reach_the_model_as_tool_errors(sandbox: Sandbox) -> None:
    (sandbox.workspace / "plain.txt").write_text("x")
    with pytest.raises(ToolError, match=r"plain\.txt"):
        call(
            by_name(sandbox)["write_file"],
            {"path": "plain.txt/inner", "content": "y"},
            context(sandbox),
        )
