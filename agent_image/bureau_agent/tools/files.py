"""``read_file``, ``write_file``, ``list_files``: confined to the workspace."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bureau_agent.tools.base import Tool, ToolContext, ToolError
from bureau_agent.tools.paths import confined
from bureau_agent.tools.sandbox import Sandbox

MAX_LIST_ENTRIES = 500


def _read(path: Path, limit: int, offset: int) -> str:
    if not path.exists():
        raise ToolError(f"{path.name}: no such file")
    if path.is_dir():
        raise ToolError(f"{path.name} is a directory; use list_files")
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read(limit + 1)
    if b"\x00" in data[:4096]:
        return f"(binary file, {path.stat().st_size} bytes)"
    text = data[:limit].decode("utf-8", errors="replace")
    if len(data) > limit:
        text += f"\n[truncated: file continues past byte {offset + limit}; pass offset to read on]"
    return text


def _write(sandbox: Sandbox, path: Path, content: str, append: bool) -> str:
    if path.is_dir():
        raise ToolError(f"{path.name} is a directory")
    missing = [p for p in reversed(path.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    for made in missing:
        sandbox.own(made)
    with path.open("a" if append else "w", encoding="utf-8") as fh:
        fh.write(content)
    sandbox.own(path)
    return f"wrote {len(content.encode())} bytes to {path.relative_to(sandbox.workspace.resolve())}"


def _list(root: Path, path: Path, recursive: bool) -> str:
    if not path.is_dir():
        raise ToolError(f"{path.name or '.'} is not a directory")
    entries = path.rglob("*") if recursive else path.iterdir()
    lines: list[str] = []
    for i, entry in enumerate(sorted(entries)):
        if i >= MAX_LIST_ENTRIES:
            lines.append(f"[more than {MAX_LIST_ENTRIES} entries; list a subdirectory]")
            break
        rel = entry.relative_to(root)
        if entry.is_dir():
            lines.append(f"{rel}/")
        else:
            lines.append(f"{rel}\t{entry.lstat().st_size}")
    return "\n".join(lines) or "(empty directory)"


async def _in_thread(fn: Callable[..., str], *args: Any) -> str:
    """Run a file operation off the event loop; OS errors become errors the model sees."""
    try:
        return await asyncio.to_thread(fn, *args)
    except OSError as exc:
        name = Path(exc.filename).name if exc.filename else "file"
        raise ToolError(f"{name}: {exc.strerror or exc}") from None


def file_tools(sandbox: Sandbox) -> list[Tool]:
    async def read_file(args: dict[str, Any], ctx: ToolContext) -> str:
        path = confined(ctx.workspace, args.get("path", ""))
        offset = args.get("offset", 0)
        offset = offset if isinstance(offset, int) and offset >= 0 else 0
        return await _in_thread(_read, path, ctx.output_limit, offset)

    async def write_file(args: dict[str, Any], ctx: ToolContext) -> str:
        path = confined(ctx.workspace, args.get("path", ""))
        content = args.get("content")
        if not isinstance(content, str):
            raise ToolError("'content' must be a string")
        return await _in_thread(_write, sandbox, path, content, bool(args.get("append")))

    async def list_files(args: dict[str, Any], ctx: ToolContext) -> str:
        path = confined(ctx.workspace, args.get("path") or ".")
        root = ctx.workspace.resolve()
        return await _in_thread(_list, root, path, bool(args.get("recursive")))

    path_prop = {"type": "string", "description": "Path relative to the workspace."}
    return [
        Tool(
            name="read_file",
            description="Read a text file from the workspace.",
            parameters={
                "type": "object",
                "properties": {
                    "path": path_prop,
                    "offset": {"type": "integer", "description": "Byte offset to start at."},
                },
                "required": ["path"],
            },
            invoke=read_file,
        ),
        Tool(
            name="write_file",
            description="Create or overwrite (or append to) a text file in the workspace.",
            parameters={
                "type": "object",
                "properties": {
                    "path": path_prop,
                    "content": {"type": "string"},
                    "append": {"type": "boolean", "description": "Append instead of replace."},
                },
                "required": ["path", "content"],
            },
            invoke=write_file,
        ),
        Tool(
            name="list_files",
            description="List a workspace directory (name, and size for files).",
            parameters={
                "type": "object",
                "properties": {
                    "path": {**path_prop, "default": "."},
                    "recursive": {"type": "boolean"},
                },
            },
            invoke=list_files,
        ),
    ]
