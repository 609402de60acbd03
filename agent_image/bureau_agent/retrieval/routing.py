"""A route class that answers retrieval's own exceptions in OpenAI's error shape."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from bureau_agent.api.errors import OpenAIError
from bureau_agent.retrieval.errors import Conflict, InvalidRequest, NotFound


def to_openai(exc: Exception) -> OpenAIError | None:
    """The OpenAI error for one of our exceptions (None for anything else)."""
    if isinstance(exc, InvalidRequest):
        return OpenAIError(400, exc.message, param=exc.param, code=exc.code)
    if isinstance(exc, NotFound):
        return OpenAIError(404, exc.message, param=exc.param)
    if isinstance(exc, Conflict):
        return OpenAIError(400, exc.message, param=exc.param)
    return None


class RetrievalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def translated(request: Request) -> Response:
            try:
                return await handler(request)
            except (InvalidRequest, NotFound, Conflict) as exc:
                error = to_openai(exc)
                assert error is not None
                raise error from None

        return translated
