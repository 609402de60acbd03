"""uvicorn for the agent: its settings, and serving until stopped."""

from __future__ import annotations

import socket
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from bureau_agent.config import AgentConfig
    from bureau_agent.enroll import TlsMaterial


def server_config(
    application: Any,
    host: str,
    port: int,
    *,
    cert: Path | None,
    key: Path | None,
    client_ca: Path | None,
) -> uvicorn.Config:
    """uvicorn's settings for the agent (no websockets: the API has none)."""
    mutual = client_ca is not None
    return uvicorn.Config(
        application,
        host=host,
        port=port,
        log_level="info",
        ws="none",
        ssl_certfile=str(cert) if cert else None,
        ssl_keyfile=str(key) if key else None,
        ssl_ca_certs=str(client_ca) if client_ca else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if mutual else ssl.CERT_NONE,
        timeout_graceful_shutdown=5,
    )


def desk_server_config(application: Any, config: AgentConfig, tls: TlsMaterial) -> uvicorn.Config:
    """The enrolled desk agent's server: its address, its certificate, the desk CA's clients."""
    return server_config(
        application,
        config.agent_host,
        config.agent_port,
        cert=tls.cert,
        key=tls.key,
        client_ca=tls.client_ca,
    )


def run_server(config: uvicorn.Config, listener: socket.socket | None = None) -> None:
    """Serve until stopped; on ``listener`` (already bound and listening) when given."""
    server = uvicorn.Server(config)
    server.run(sockets=[listener] if listener is not None else None)
    if not server.started:
        sys.exit(3)
