"""Running a tool subprocess: timeout (whole process group killed), output cap, exit code."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from bureau_agent.tools.base import ToolError
from bureau_agent.tools.sandbox import Sandbox


@dataclass
class ProcessResult:
    exit_code: int | None
    output: str
    timed_out: bool
    truncated: int

    def describe(self, timeout: float) -> str:
        status = (
            f"timed out after {timeout:g}s (killed)"
            if self.timed_out
            else f"exit code {self.exit_code}"
        )
        tail = f"\n[output truncated: {self.truncated} more bytes]" if self.truncated else ""
        return f"{status}\n{self.output}{tail}"


async def _read_capped(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, int]:
    kept = bytearray()
    dropped = 0
    while chunk := await stream.read(65536):
        room = limit - len(kept)
        kept += chunk[:room]
        dropped += max(0, len(chunk) - room)
    return bytes(kept), dropped


async def run_process(
    argv: list[str],
    *,
    sandbox: Sandbox,
    cwd: Path,
    time_limit: float,
    output_limit: int,
    stdin: bytes | None = None,
) -> ProcessResult:
    try:
        proc = await asyncio.create_subprocess_exec(
            *sandbox.command(argv, time_limit),
            cwd=cwd,
            env=sandbox.env(),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            **sandbox.popen_user(),  # type: ignore[arg-type]
        )
    except OSError as exc:
        raise ToolError(f"could not start {argv[0]}: {exc.strerror or exc}") from None
    assert proc.stdout is not None
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)
        with contextlib.suppress(OSError):
            await proc.stdin.drain()
        proc.stdin.close()
    reader = asyncio.ensure_future(_read_capped(proc.stdout, output_limit))
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), time_limit)
    except TimeoutError:
        timed_out = True
    finally:
        if proc.returncode is None or timed_out:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    try:
        data, dropped = await asyncio.wait_for(reader, 5)
    except TimeoutError:
        reader.cancel()
        data, dropped = b"", 0
    return ProcessResult(
        exit_code=proc.returncode,
        output=data.decode("utf-8", errors="replace"),
        timed_out=timed_out,
        truncated=dropped,
    )
