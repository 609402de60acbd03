"""Lets the pages' JavaScript call the JSON API (``/v1/...``) with the browser session.

A request to the API that carries no ``Authorization`` header but a valid session cookie gets
``Authorization: Bearer <session token>`` added to its ASGI scope, so the API's own auth applies
unchanged. State-changing methods must also carry the session's CSRF token in ``X-CSRF-Token``
(the cookie is SameSite=Strict as well). Pure ASGI, so streaming responses pass through untouched.
"""

from __future__ import annotations

import json

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.web.session import CSRF_HEADER, SESSION_COOKIE, SessionCodec, csrf_matches

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIX = "/v1/"
EXCLUDED_PREFIXES = ("/v1/agent/",)
"""The agents' own endpoints (enrollment, dist) never take a user session."""


class SessionAuthMiddleware:
    def __init__(self, app: ASGIApp, codec: SessionCodec) -> None:
        self.app = app
        self.codec = codec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_api_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        if any(name == b"authorization" for name, _ in headers):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        session = self.codec.open(conn.cookies.get(SESSION_COOKIE))
        if session is None:
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET").upper()
        if method not in SAFE_METHODS and not csrf_matches(session, conn.headers.get(CSRF_HEADER)):
            await _forbidden(send)
            return
        headers.append((b"authorization", f"Bearer {session.token}".encode("latin-1")))
        await self.app({**scope, "headers": headers}, receive, send)


def _is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX) and not path.startswith(EXCLUDED_PREFIXES)


async def _forbidden(send: Send) -> None:
    body = json.dumps(
        {"detail": "missing or wrong CSRF token: reload the page and try again"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
