"""Request budgets on the endpoints that cost the most or reach out to other hosts.

Creating desks boots VMs, listing a provider's models and verifying or rotating keys make
outbound calls to an address the caller chooses: each gets a per-user budget (a moving window,
the ``limits`` library). Enrollment gets a per-address budget. Counters live in memory (one budget
per process) or, for several replicas, in Redis (``BUREAU_RATE_LIMIT_STORAGE=redis://host:6379``).
When the storage cannot be reached the request is let through and a warning logged: an outage of
Redis must not take the API down.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import HTTPException, Request, status
from limits import RateLimitItem, parse
from limits.aio import strategies
from limits.storage import storage_from_string

from orchestrator.api.deps import CurrentUser
from orchestrator.settings import Settings

log = logging.getLogger("orchestrator.ratelimit")
Scope = Literal["desk_create", "provider_check", "key_update", "enroll"]


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        uri = settings.rate_limit_storage
        options = {"implementation": "redispy"} if uri.startswith("redis") else {}
        # The asyncio flavour: counting never blocks the event loop, nor costs a threadpool hop.
        self._storage = storage_from_string(f"async+{uri}", **options)
        self._strategy = strategies.MovingWindowRateLimiter(self._storage)
        rules: dict[Scope, str] = {
            "desk_create": settings.rate_limit_desk_create,
            "provider_check": settings.rate_limit_provider_check,
            "key_update": settings.rate_limit_key_update,
            "enroll": settings.rate_limit_enroll,
        }
        self._rules: dict[Scope, RateLimitItem] = {
            scope: parse(rule) for scope, rule in rules.items() if rule
        }

    async def retry_after(self, scope: Scope, key: str) -> int | None:
        """Count one request; None when it is within budget, else seconds until it would be."""
        item = self._rules.get(scope)
        if item is None:
            return None
        try:
            if await self._strategy.hit(item, scope, key):
                return None
            reset = (await self._strategy.get_window_stats(item, scope, key)).reset_time
        except Exception as exc:  # the storage is down: fail open, loudly
            log.warning("rate limit storage unavailable (%s): request let through", exc)
            return None
        return max(1, math.ceil(reset - time.time()))

    def describe(self, scope: Scope) -> str:
        item = self._rules[scope]
        unit = item.GRANULARITY.name.lower()
        per = unit if item.multiples == 1 else f"{item.multiples} {unit}s"
        return f"{item.amount} per {per}"


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        limiter = RateLimiter(request.app.state.runtime.settings)
        request.app.state.rate_limiter = limiter
    return limiter


def _refuse(limiter: RateLimiter, scope: Scope, wait: int, what: str) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"too many {what} ({limiter.describe(scope)}): try again in {wait} s",
        headers={"Retry-After": str(wait)},
    )


def per_user(scope: Scope, what: str) -> Callable[[Request, CurrentUser], Awaitable[None]]:
    """A dependency that charges one request of ``scope`` to the calling user."""

    async def check(request: Request, user: CurrentUser) -> None:
        limiter = _limiter(request)
        wait = await limiter.retry_after(scope, user.id)
        if wait is not None:
            raise _refuse(limiter, scope, wait, what)

    return check


def per_address(scope: Scope, what: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency that charges one request of ``scope`` to the caller's IP address."""

    async def check(request: Request) -> None:
        limiter = _limiter(request)
        address = request.client.host if request.client else "unknown"
        wait = await limiter.retry_after(scope, address)
        if wait is not None:
            raise _refuse(limiter, scope, wait, what)

    return check
