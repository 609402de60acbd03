"""Confining file tool paths to the workspace (symlinks resolved; traversal refused)."""

from __future__ import annotations

from pathlib import Path

from bureau_agent.tools.base import ToolError


def confined(workspace: Path, path: str) -> Path:
    if not isinstance(path, str) or not path.strip():
        raise ToolError("path must be a non-empty string")
    if "\x00" in path:
        raise ToolError("path must not contain NUL bytes")
    root = workspace.resolve()
    target = (root / path).resolve()
    if target != root and not target.is_relative_to(root):
        raise ToolError(f"path {path!r} is outside the workspace; use a path inside {root}")
    return target
