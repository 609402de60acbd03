"""The unassigned agent's HTTP endpoint: ``GET /pool/v1/health``, ``POST /pool/v1/resume``.

Plain HTTP from the stdlib on purpose: it imports in milliseconds, serves one request at a time in
the main thread (so the resume can fork safely), and lives only until the clone is resumed.
Who can reach it: only the control plane, through the one ``hostfwd`` QEMU binds on the host's
127.0.0.1 (user networking with ``restrict=on``: no other peer exists before the desk runs user
code), and a request must carry the clone's pool token (``Authorization: Bearer``). On a qemu
clone that token is per clone, single use, read from its own seed disk when the resume arrives
(seed_token.py): the template holds none, so a template refuses every resume.
A Hetzner pool server is reached over the internet instead: ``identity.TlsPoolServer`` serves the
same endpoints over mutual TLS and passes ``pool_token=None`` (the caller is authenticated by the
control plane's client certificate; see identity.py).
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from pydantic import ValidationError

from bureau_agent.pool.resume import AlreadyResumed, ResumeFailed, Resumer
from bureau_agent.pool.wire import POOL_PROTOCOL, ResumeRequest, ResumeResponse
from bureau_agent.version import __version__

log = logging.getLogger("bureau_agent.pool")
MAX_BODY = 64 * 1024


class PoolServer(HTTPServer):
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        resumer: Resumer,
        pool_token: str | Callable[[], str] | None,
        *,
        hand_off: bool = True,
    ) -> None:
        super().__init__(address, _Handler)
        self.resumer = resumer
        self.pool_token = pool_token
        """The bearer token a resume must carry: a value, a function read per resume ("" from it
        refuses every resume), or None (a TLS subclass authenticates the caller itself)."""
        self.hand_off = hand_off
        """Stop serving after a successful resume (the agent takes the port over)."""
        self.outcome: ResumeResponse | None = None
        self.request_fd: int | None = None

    def open_fds(self) -> list[int]:
        """What a forked agent must close: the resume's connection. It keeps the listening
        socket: the agent serves TLS on it once enrolled (the resumer stops accepting then)."""
        return [fd for fd in (self.request_fd,) if fd is not None]

    def serve_until_resumed(self) -> ResumeResponse:
        """Answer requests until one resume succeeded; return its response."""
        while self.outcome is None:
            self.handle_request()
        return self.outcome

    def serve_until_stopped(self, stop: Any) -> None:
        """For tests: serve until ``stop.is_set()`` (polling twice a second)."""
        self.timeout = 0.5
        while not stop.is_set():
            self.handle_request()


class _Handler(BaseHTTPRequestHandler):
    server: PoolServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: dict[str, Any] | str) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True

    def do_GET(self) -> None:
        if self.path != "/pool/v1/health":
            self._send(404, {"detail": "not found"})
            return
        status = "resumed" if self.server.resumer.resumed else "unassigned"
        self._send(
            200,
            {"status": status, "pool_protocol": POOL_PROTOCOL, "agent_version": __version__},
        )

    def _authorized(self) -> bool:
        source = self.server.pool_token
        if source is None:
            return True
        try:
            expected = source() if callable(source) else source
        except Exception as exc:  # e.g. the seed disk cannot be read: refuse, say why in the log
            log.error("pool token unavailable: %s", exc)
            return False
        auth = self.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        return (
            bool(expected)
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode(), expected.encode())
        )

    def do_POST(self) -> None:
        received = time.monotonic_ns()
        if self.path != "/pool/v1/resume":
            self._send(404, {"detail": "not found"})
            return
        if not self._authorized():
            self._send(401, {"detail": "missing or wrong pool token"})
            return
        length_text = self.headers.get("content-length")
        if length_text is None or not length_text.isdigit():
            self._send(411, {"detail": "content-length required"})
            return
        if int(length_text) > MAX_BODY:
            self._send(413, {"detail": f"body above {MAX_BODY} bytes"})
            return
        body = self.rfile.read(int(length_text))
        try:
            request = ResumeRequest.model_validate_json(body)
        except ValidationError as exc:
            errors = exc.errors(include_input=False, include_url=False, include_context=False)
            detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
            self._send(422, {"detail": detail})
            return
        if request.pool_protocol != POOL_PROTOCOL:
            self._send(
                426,
                {"detail": f"pool protocol {request.pool_protocol} unsupported"},
            )
            return
        try:
            self.server.resumer.claim()
        except AlreadyResumed as exc:
            self._send(409, {"detail": str(exc)})
            return
        self.server.request_fd = self.request.fileno()
        try:
            response = self.server.resumer.resume(request, received)
        except ResumeFailed as exc:
            log.error("%s", exc)
            self._send(503, {"detail": str(exc), "step": exc.step})
            return
        status = HTTPStatus.OK if response.enrolled else HTTPStatus.BAD_GATEWAY
        self._send(status, response.model_dump_json())
        if response.enrolled and self.server.hand_off:
            self.server.outcome = response
