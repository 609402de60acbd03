"""Real servers on 127.0.0.1 for tests: an ASGI app under uvicorn in a thread, on a free port."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from tests.helpers.wait import wait_until


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    host: str
    port: int
    scheme: str
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@contextlib.contextmanager
def serve_asgi(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    ca_certs: Path | None = None,
    client_cert_required: bool = False,
    startup_timeout: float = 30.0,
) -> Iterator[RunningServer]:
    """Serve ``app`` on a real socket until the block exits; TLS when ``certfile`` is given."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port or free_port(host),
        log_level="warning",
        lifespan="on",
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        ssl_ca_certs=str(ca_certs) if ca_certs else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if client_cert_required else ssl.CERT_NONE,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{config.port}", daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), timeout=startup_timeout)
    if not server.started:
        raise RuntimeError(f"server on {host}:{config.port} did not start")
    try:
        yield RunningServer(host, config.port, "https" if certfile else "http", server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
