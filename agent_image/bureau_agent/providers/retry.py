"""Retries of transient provider errors (429, 5xx, timeouts) with backoff and ``retry-after``.

A stream is retried only while it has yielded nothing: once text reached the client, a retry
would repeat it, so a later failure ends the turn.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

from bureau_agent.providers.base import Model, ModelRequest, StreamEvent
from bureau_agent.providers.errors import ProviderError, ProviderUnavailable, RateLimited

Sleep = Callable[[float], Awaitable[None]]


class RetryingModel:
    def __init__(
        self,
        inner: Model,
        *,
        max_retries: int = 4,
        max_wait: float = 30.0,
        base_delay: float = 0.5,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.inner = inner
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.base_delay = base_delay
        self._sleep = sleep

    def delay(self, attempt: int, error: ProviderError) -> float:
        hinted = error.retry_after if isinstance(error, RateLimited | ProviderUnavailable) else None
        if hinted is not None:
            return min(hinted, self.max_wait)
        backoff = self.base_delay * (2**attempt)
        return float(min(backoff * (0.75 + random.random() / 2), self.max_wait))

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        attempt = 0
        while True:
            started = False
            try:
                async for event in self.inner.stream(request):
                    started = True
                    yield event
                return
            except ProviderError as error:
                if started or not error.transient or attempt >= self.max_retries:
                    raise
                await self._sleep(self.delay(attempt, error))
                attempt += 1

    async def aclose(self) -> None:
        await self.inner.aclose()
