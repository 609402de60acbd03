"""A minimal asyncio QMP client: enough to power a desk down and ask its status."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path
from typing import Any


class QmpError(Exception):
    """QMP did not answer as expected (socket missing, QEMU gone, command error)."""


def short_unix_path(path: Path) -> tuple[str, int | None]:
    """A connectable path for a possibly long socket path (AF_UNIX allows ~107 bytes).

    Long paths go through ``/proc/self/fd/<dir fd>/<name>``; the caller closes the fd.
    """
    text = str(path)
    if len(text) < 100:
        return text, None
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{path.name}", fd


class Qmp:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, path: Path, wait_s: float = 5.0) -> Qmp:
        target, fd = short_unix_path(path)
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            await asyncio.wait_for(loop.sock_connect(sock, target), wait_s)
            reader, writer = await asyncio.open_unix_connection(sock=sock)
        except (OSError, TimeoutError) as exc:
            raise QmpError(f"cannot connect to QMP at {path}: {exc}") from exc
        finally:
            if fd is not None:
                os.close(fd)
        client = cls(reader, writer)
        await client._read(wait_s)  # greeting
        await client.execute("qmp_capabilities", wait_s=wait_s)
        return client

    async def _read(self, wait_s: float) -> dict[str, Any]:
        try:
            line = await asyncio.wait_for(self._reader.readline(), wait_s)
        except (OSError, TimeoutError) as exc:
            raise QmpError(f"QMP read failed: {exc!r}") from exc
        if not line:
            raise QmpError("QMP connection closed")
        message: dict[str, Any] = json.loads(line)
        return message

    async def execute(
        self, command: str, arguments: dict[str, Any] | None = None, wait_s: float = 5.0
    ) -> Any:
        payload: dict[str, Any] = {"execute": command}
        if arguments:
            payload["arguments"] = arguments
        try:
            self._writer.write(json.dumps(payload).encode() + b"\n")
            await self._writer.drain()
        except OSError as exc:
            raise QmpError(f"QMP write failed: {exc}") from exc
        while True:
            message = await self._read(wait_s)
            if "event" in message:
                continue
            if "error" in message:
                raise QmpError(f"QMP {command}: {message['error'].get('desc', message['error'])}")
            return message.get("return")

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass
