"""A protocol-faithful fake LLM provider: OpenAI, Anthropic and OpenRouter over real HTTP.

Tests queue scripted replies per model (``FakeProvider.queue``) and read back every request the
code under test sent (``FakeProvider.requests``). Without a script the fake answers
deterministically (see ``provider_script``). It runs in-process under uvicorn (the
``fake_provider`` fixture) or standalone for a VM: ``python -m tests.fakes.provider --host H
--port P``, scripted then through ``POST /_fake/queue``, ``GET /_fake/requests`` and
``POST /_fake/reset`` (and ``POST /_fake/config`` for accepted keys and context windows).
"""

from __future__ import annotations

import argparse
import json
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import provider_anthropic, provider_embeddings, provider_models, provider_openai
from tests.fakes.provider_errors import anthropic_error, openai_error
from tests.fakes.provider_replies import (
    Call,
    Error,
    Reply,
    ReplySpecError,
    Text,
    ToolCalls,
    context_length_exceeded,
    invalid_key,
    prompt_too_long,
    rate_limited,
    reply_from_spec,
    server_error,
)
from tests.fakes.provider_script import Conversation

__all__ = [
    "Call",
    "Error",
    "FakeProvider",
    "RecordedRequest",
    "Reply",
    "Text",
    "ToolCalls",
    "context_length_exceeded",
    "invalid_key",
    "main",
    "prompt_too_long",
    "rate_limited",
    "server_error",
]

ANY_MODEL = "*"
Handler = Callable[[Request, Any], Awaitable[Response]]


@dataclass
class RecordedRequest:
    """One request as the fake received it (header names lower-case; ``json`` None if not JSON)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class FakeProvider:
    """Scripted state plus the ASGI ``app`` that serves it (thread-safe: uvicorn runs elsewhere)."""

    def __init__(self, accepted_keys: set[str] | None = None) -> None:
        self.accepted_keys = accepted_keys
        self.context_windows: dict[str, int] = {}  # model -> max prompt tokens (else unlimited)
        self.requests: list[RecordedRequest] = []
        self._queues: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self.app = Starlette(routes=self._routes(), exception_handlers={HTTPException: _http_error})

    def queue(self, model: str, *responses: Reply) -> None:
        """Append replies to ``model``'s FIFO (``"*"``: any model without its own script)."""
        with self._lock:
            self._queues.setdefault(model, deque()).extend(responses)

    def reset(self) -> None:
        """Forget the scripts and the recorded requests."""
        with self._lock:
            self._queues.clear()
            self.requests.clear()

    def pending(self, model: str = ANY_MODEL) -> int:
        """How many scripted replies are still queued for ``model``."""
        with self._lock:
            return len(self._queues.get(model, ()))

    def next_reply(self, model: str) -> Reply | None:
        """The next scripted reply for ``model`` (its own queue first, then ``"*"``)."""
        with self._lock:
            for name in (model, ANY_MODEL):
                queue = self._queues.get(name)
                if queue:
                    return queue.popleft()
        return None

    def next_error(self, model: str) -> Error | None:
        """A scripted error at the head of ``model``'s own queue (for embeddings requests)."""
        with self._lock:
            queue = self._queues.get(model)
            if queue and isinstance(queue[0], Error):
                reply = queue.popleft()
                assert isinstance(reply, Error)
                return reply
        return None

    def key_accepted(self, key: str) -> bool:
        if not key:
            return False
        if self.accepted_keys is None:
            return "invalid" not in key
        return key in self.accepted_keys

    # -- HTTP -------------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        openai, anthropic, openrouter = self._openai, self._anthropic, self._openrouter
        return [
            Route("/v1/chat/completions", openai(self._chat), methods=["POST"]),
            Route("/v1/embeddings", openai(self._embeddings), methods=["POST"]),
            Route("/v1/messages", anthropic(self._messages), methods=["POST"]),
            Route("/v1/messages/count_tokens", anthropic(self._count_tokens), methods=["POST"]),
            Route("/v1/models", self._recorded(self._models), methods=["GET"]),
            Route("/v1/models/{model_id:path}", self._recorded(self._model), methods=["GET"]),
            Route("/api/v1/chat/completions", openrouter(self._chat), methods=["POST"]),
            Route("/api/v1/embeddings", openrouter(self._embeddings), methods=["POST"]),
            Route("/api/v1/models", self._recorded(self._openrouter_models), methods=["GET"]),
            Route("/api/v1/key", openrouter(self._openrouter_key), methods=["GET"]),
            Route("/api/v1/auth/key", openrouter(self._openrouter_key), methods=["GET"]),
            Route("/_fake/queue", self._control_queue, methods=["POST"]),
            Route("/_fake/requests", self._control_requests, methods=["GET"]),
            Route("/_fake/reset", self._control_reset, methods=["POST"]),
            Route("/_fake/config", self._control_config, methods=["POST"]),
        ]

    def _recorded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Record the request, parse its JSON body, then call ``handler(request, body)``."""

        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            record = RecordedRequest(
                request.method,
                request.url.path,
                dict(request.query_params),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
            with self._lock:
                self.requests.append(record)
            if raw and not isinstance(body, dict):
                return self._bad_json(request)
            return await handler(request, body or {})

        return endpoint

    def _bad_json(self, request: Request) -> Response:
        error = Error(400, "We could not parse the JSON body of your request.")
        return anthropic_error(error) if _is_anthropic(request) else openai_error(error)

    def _openai(
        self, handler: Handler, flavour: str = "openai"
    ) -> Callable[[Request], Awaitable[Response]]:
        async def checked(request: Request, body: Any) -> Response:
            error = self._openai_auth(request)
            request.state.flavour = flavour
            return error if error else await handler(request, body)

        return self._recorded(checked)

    def _openai_auth(self, request: Request) -> Response | None:
        key = _bearer(request)
        if not key:
            message = "You didn't provide an API key. Use 'Authorization: Bearer YOUR_KEY'."
            return openai_error(Error(401, message, code=""))
        if not self.key_accepted(key):
            hint = f"{key[:3]}...{key[-4:]}" if len(key) > 8 else "***"
            return openai_error(Error(401, f"Incorrect API key provided: {hint}."))
        return None

    def _openrouter(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return self._openai(handler, provider_openai.OPENROUTER)

    def _anthropic(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def checked(request: Request, body: Any) -> Response:
            error = self._anthropic_auth(request)
            return error if error else await handler(request, body)

        return self._recorded(checked)

    def _anthropic_auth(self, request: Request) -> Response | None:
        key = request.headers.get("x-api-key") or _bearer(request)
        if not key:
            return anthropic_error(Error(401, "x-api-key header is required"))
        if not self.key_accepted(key):
            return anthropic_error(Error(401, "invalid x-api-key"))
        if not request.headers.get("anthropic-version"):
            return anthropic_error(Error(400, "anthropic-version: header is required"))
        return None

    async def _chat(self, request: Request, body: Any) -> Response:
        return await provider_openai.chat_completions(
            body, self._reply_for(context_length_exceeded), request.state.flavour
        )

    async def _embeddings(self, request: Request, body: Any) -> Response:
        error = self.next_error(str(body.get("model", "")))
        return openai_error(error) if error else provider_embeddings.embeddings(body)

    async def _messages(self, request: Request, body: Any) -> Response:
        return await provider_anthropic.messages(body, self._reply_for(prompt_too_long))

    def _reply_for(
        self, too_long: Callable[[int, int], Error]
    ) -> Callable[[Conversation], Reply | None]:
        """The next reply, or the API's context error when the prompt exceeds the window."""

        def reply(conv: Conversation) -> Reply | None:
            window = self.context_windows.get(conv.model)
            if window is not None and conv.prompt_tokens > window:
                return too_long(conv.prompt_tokens, window)
            return self.next_reply(conv.model)

        return reply

    async def _count_tokens(self, request: Request, body: Any) -> Response:
        return provider_anthropic.count_tokens(body)

    async def _models(self, request: Request, body: Any) -> Response:
        if _is_anthropic(request):
            error = self._anthropic_auth(request)
            query = dict(request.query_params)
            return error or JSONResponse(provider_models.anthropic_models(query))
        return self._openai_auth(request) or JSONResponse(provider_models.openai_models())

    async def _model(self, request: Request, body: Any) -> Response:
        model_id = request.path_params["model_id"]
        if _is_anthropic(request):
            error = self._anthropic_auth(request)
            found = provider_models.anthropic_model(model_id)
            if error or not found:
                return error or anthropic_error(Error(404, f"model: {model_id}"))
            return JSONResponse(found)
        error = self._openai_auth(request)
        if error or model_id not in provider_models.OPENAI_MODELS:
            message = f"The model '{model_id}' does not exist or you do not have access to it."
            return error or openai_error(Error(404, message))
        return JSONResponse(provider_models.openai_model(model_id))

    async def _openrouter_models(self, request: Request, body: Any) -> Response:
        return JSONResponse(provider_models.openrouter_models())

    async def _openrouter_key(self, request: Request, body: Any) -> Response:
        return JSONResponse(provider_models.openrouter_key(_bearer(request)))

    # -- control endpoints (not recorded) ---------------------------------------------------

    async def _control_queue(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        model, specs = body.get("model") if isinstance(body, dict) else None, None
        if isinstance(body, dict):
            specs = body.get("replies")
        if not isinstance(model, str) or not model or not isinstance(specs, list):
            return JSONResponse({"error": "need a model and a replies list"}, status_code=400)
        try:
            replies = [reply_from_spec(spec) for spec in specs]
        except ReplySpecError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        self.queue(model, *replies)
        return JSONResponse(
            {"model": model, "queued": len(replies), "pending": self.pending(model)}
        )

    async def _control_requests(self, request: Request) -> Response:
        with self._lock:
            data = [asdict(r) for r in self.requests]
        return JSONResponse({"data": data})

    async def _control_config(self, request: Request) -> Response:
        """Set ``accepted_keys`` (list or null) and/or ``context_windows`` ({model: tokens})."""
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        keys, windows = body.get("accepted_keys", ...), body.get("context_windows", ...)
        if keys is not ... and not (keys is None or _all(keys, list, str)):
            return JSONResponse({"error": "accepted_keys must be null or strings"}, status_code=400)
        if windows is not ... and not _all(windows, dict, int):
            return JSONResponse(
                {"error": "context_windows must map models to ints"}, status_code=400
            )
        if keys is not ...:
            self.accepted_keys = None if keys is None else set(keys)
        if windows is not ...:
            self.context_windows = dict(windows)
        keys_now = None if self.accepted_keys is None else sorted(self.accepted_keys)
        return JSONResponse({"accepted_keys": keys_now, "context_windows": self.context_windows})

    async def _control_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})


def _all(value: Any, container: type, item: type) -> bool:
    """``value`` is a ``container`` whose items (dict: values) are all ``item``."""
    items: list[Any] = list(value.values()) if isinstance(value, dict) else value
    return isinstance(value, container) and all(
        isinstance(v, item) and not isinstance(v, bool) for v in items
    )


def _is_anthropic(request: Request) -> bool:
    headers = request.headers
    return "anthropic-version" in headers or "x-api-key" in headers


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown URL, wrong method) in the caller's API shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        message, code = f"Unknown request URL: {request.method} {request.url.path}.", "unknown_url"
    else:
        message, code = f"Method {request.method} not allowed for {request.url.path}.", ""
    error = Error(status, message, code=code)
    return anthropic_error(error) if _is_anthropic(request) else openai_error(error)


class _AnnouncingServer(uvicorn.Server):
    """Prints ``listening on http://H:P`` once the socket accepts connections."""

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                host = f"[{host}]" if ":" in host else host
                print(f"listening on http://{host}:{port}", flush=True)
                return


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a fresh fake provider until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.provider", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--accept-key", action="append", dest="keys", help="accept only these keys (repeatable)"
    )
    args = parser.parse_args(argv)
    provider = FakeProvider(set(args.keys) if args.keys else None)
    config = uvicorn.Config(provider.app, host=args.host, port=args.port, log_level="warning")
    _AnnouncingServer(config).run()


if __name__ == "__main__":
    main()
