"""Server-sent events from a provider's streamed response, as (event name, JSON data) pairs.

The adapters read the raw stream through the SDKs' ``with_streaming_response`` and fold plain
JSON themselves: the SDKs' per-chunk model construction cost several ms per model call.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any


async def sse_json(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, dict[str, Any]]]:
    event: str | None = None
    done = False
    async for line in lines:  # read to the end, so the connection goes back to the pool
        if done or not line:
            event = None
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                continue
            value = json.loads(data)
            if isinstance(value, dict):
                yield event, value
