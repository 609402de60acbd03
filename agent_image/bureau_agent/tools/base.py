"""The tool interface the run loop reads.

A ``Tool`` is a plain dataclass: a name, a description, a JSON schema for its arguments and an
async ``invoke(args, ctx)``. The loop offers the model every ``always_on`` tool (the desk's
built-ins), plus the tools whose ``assistant_type`` appears in the run's ``tools``
(``code_interpreter``, ``file_search``). User ``function`` tools are not ``Tool`` objects:
they go to ``requires_action``.

Error policy (as in openai-agents-python):
- return a string (or ``ToolResult``): the model sees it. Expected failures (bad path, non-zero
  exit, no results) are returned as text so the model can recover.
- raise ``ToolError(message)``: the model sees ``"Error: <message>"``; the run continues.
- raise anything else: a bug; the run fails with ``last_error.code = "server_error"``.

Tools never see the provider key: subprocesses get ``ctx.env`` (scrubbed) and run as the tool user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

JSONSchema = dict[str, Any]


class ToolError(Exception):
    """A failure the model should see and may recover from."""


@dataclass(frozen=True)
class Citation:
    """A source a tool's output refers to by ``marker`` (e.g. ``【3:0†report.pdf】``).

    When the final answer contains ``marker``, the message text gets a ``file_citation``
    annotation (``start_index``/``end_index`` of the marker, ``file_citation.file_id``).
    """

    marker: str
    file_id: str


@dataclass
class ToolResult:
    """A tool's answer: ``output`` for the model, plus how the call shows in the run step.

    ``step_details`` replaces the default run-step tool call body. The default is
    ``{"type": "function", "function": {"name", "arguments", "output"}}``; ``file_search`` returns
    ``{"type": "file_search", "file_search": {"ranking_options": {...}, "results": [...]}}`` and
    ``code_interpreter`` ``{"type": "code_interpreter", "code_interpreter": {"input", "outputs"}}``
    (the loop adds the call ``id``).
    """

    output: str
    step_details: dict[str, Any] | None = None
    citations: list[Citation] = field(default_factory=list)


class FileResolver(Protocol):
    """Where ``file_id``s become local files (H5's file store implements it)."""

    async def local_path(self, file_id: str) -> tuple[str, Path] | None:
        """(filename, path of the stored bytes) for an uploaded file, or None if unknown."""
        ...


@dataclass
class ToolContext:
    """What a tool call knows about its run. Built by the loop for every call."""

    run_id: str
    thread_id: str
    assistant_id: str
    workspace: Path
    env: dict[str, str]
    """A scrubbed environment for subprocesses (no ``ASSISTANT_*``/``EMBEDDINGS_*``/tokens)."""
    tool_user: str | None
    """Run subprocesses as this user (None: as the agent's own user)."""
    timeout_seconds: float
    output_limit: int
    tool_resources: dict[str, Any] = field(default_factory=dict)
    """The merged ``tool_resources`` of the thread and the assistant (thread wins)."""
    tool_config: dict[str, Any] = field(default_factory=dict)
    """The run's own entry for this tool type, e.g. ``{"type": "file_search", ...}``."""
    files: FileResolver | None = None


Invoke = Callable[[dict[str, Any], ToolContext], Awaitable["str | ToolResult"]]


@dataclass
class Tool:
    name: str
    description: str
    parameters: JSONSchema
    invoke: Invoke
    always_on: bool = True
    """Offered in every run (desk built-ins); False: only when the run lists ``assistant_type``."""
    assistant_type: str | None = None
    """The Assistants tool type that enables it (``"file_search"``, ``"code_interpreter"``)."""

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


class ToolRegistry:
    """Tools by name; the loop asks it which tools a run offers."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def for_run(self, run_tools: list[dict[str, Any]]) -> list[Tool]:
        """The built-ins plus the tools enabled by the run's ``tools`` types."""
        enabled = {t.get("type") for t in run_tools}
        return [
            t
            for t in self._tools.values()
            if t.always_on or (t.assistant_type is not None and t.assistant_type in enabled)
        ]
