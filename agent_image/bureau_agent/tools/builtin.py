"""Registers the desk's built-in tools (shell, file tools, code_interpreter)."""

from __future__ import annotations

from bureau_agent.services import Services
from bureau_agent.tools.code_interpreter import code_interpreter_tool
from bureau_agent.tools.files import file_tools
from bureau_agent.tools.sandbox import build_sandbox
from bureau_agent.tools.shell import shell_tool


def register_builtin_tools(services: Services) -> None:
    sandbox = build_sandbox(services.config)
    services.sandbox = sandbox
    services.tools.register(shell_tool(sandbox))
    for tool in file_tools(sandbox):
        services.tools.register(tool)
    services.tools.register(code_interpreter_tool(sandbox))
