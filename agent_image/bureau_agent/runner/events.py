"""Run events, fanned out to SSE subscribers in the order the loop emits them.

A stream subscribes before the run's task starts, so it sees ``thread.run.created`` first; it
ends after a terminal run event (completed, failed, cancelled, expired, incomplete,
requires_action), followed by ``done``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

TERMINAL = {
    "thread.run.completed",
    "thread.run.failed",
    "thread.run.cancelled",
    "thread.run.expired",
    "thread.run.incomplete",
    "thread.run.requires_action",
}
Event = tuple[str, dict[str, Any]]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, list[asyncio.Queue[Event | None]]] = {}

    def subscribe(self, run_id: str) -> asyncio.Queue[Event | None]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers.setdefault(run_id, []).append(queue)
        return queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[Event | None]) -> None:
        queues = self._subscribers.get(run_id, [])
        if queue in queues:
            queues.remove(queue)
        if not queues:
            self._subscribers.pop(run_id, None)

    def has_subscribers(self, run_id: str) -> bool:
        return bool(self._subscribers.get(run_id))

    def emit(self, run_id: str, event: str, data: dict[str, Any]) -> None:
        for queue in self._subscribers.get(run_id, []):
            queue.put_nowait((event, data))

    def close(self, run_id: str) -> None:
        for queue in self._subscribers.get(run_id, []):
            queue.put_nowait(None)


def sse(event: str, data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


async def stream_events(
    bus: EventBus, run_id: str, queue: asyncio.Queue[Event | None], prelude: list[Event]
) -> AsyncIterator[bytes]:
    """SSE bytes: ``prelude`` first, then the run's events until a terminal one, then ``done``."""
    try:
        for event, data in prelude:
            yield sse(event, data)
        finished = False
        while not finished:
            items = [await queue.get()]
            while not queue.empty():  # events already waiting go out in one write
                items.append(queue.get_nowait())
            chunk = bytearray()
            for item in items:
                if item is None:
                    finished = True
                    break
                event, data = item
                chunk += sse(event, data)
                if event in TERMINAL or event == "error":
                    finished = True
                    break
            if chunk:
                yield bytes(chunk)
        yield sse("done", "[DONE]")
    finally:
        bus.unsubscribe(run_id, queue)
