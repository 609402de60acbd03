"""The pool identity of a Hetzner pool server (orchestrator/pool/identity.py explains the design).

At boot, before it can be resumed, the unassigned agent of a Hetzner pool server makes a key pair,
enrolls it with its slot's single-use pool token (``POST /v1/pool/enroll``, TLS pinned to the
control plane CA) and gets a certificate from the desk CA named ``pool-<slot id>``. It then serves
its resume endpoint over TLS with that certificate, and requires the control plane's client
certificate (desk CA, EKU clientAuth, CN ``bureau-control-plane``): the bootstrap token and the
desk settings travel only over a channel both sides verified.

The wire shapes duplicate ``orchestrator/pool/identity.py`` (a contract test compares them).
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer

from bureau_agent.pool.resume import Resumer
from bureau_agent.pool.server import PoolServer

POOL_IDENTITY_PROTOCOL = 1
SLOT_PATTERN = r"^p[a-z0-9]{6,40}$"
CONTROL_PLANE_CLIENT_CN = "bureau-control-plane"
HANDSHAKE_TIMEOUT = 15.0


def pool_identity_name(slot_id: str) -> str:
    return f"pool-{slot_id}"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoolEnrollRequest(_Wire):
    pool_protocol: int = POOL_IDENTITY_PROTOCOL
    slot_id: str = Field(pattern=SLOT_PATTERN)
    pool_token: SecretStr = Field(min_length=32)
    csr_pem: str
    agent_version: str

    @field_serializer("pool_token", when_used="json")
    def _reveal_token(self, value: SecretStr) -> str:
        return value.get_secret_value()


class PoolEnrollResponse(_Wire):
    pool_protocol: int = POOL_IDENTITY_PROTOCOL
    slot_id: str
    certificate_pem: str
    ca_pem: str


FINAL_STATUSES = frozenset({400, 401, 403, 422, 426})


class PoolEnrollError(Exception):
    """The pool identity could not be enrolled (the message never holds the token)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def final(self) -> bool:
        """Retrying cannot help: the control plane refused this token or request."""
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class PoolIdentity:
    slot_id: str
    key_pem: bytes
    certificate_pem: str
    ca_pem: str
    """The desk CA: signs the control plane's client certificate."""


def enroll_pool_identity(
    slot_id: str,
    control_plane_url: str,
    control_plane_ca: Path,
    pool_token: str,
    *,
    transport: httpx.BaseTransport | None = None,
) -> PoolIdentity:
    """One enrollment attempt: a fresh key, its CSR, the pool token; the signed certificate."""
    from bureau_agent.enroll import make_key_and_csr
    from bureau_agent.version import __version__

    key_pem, csr_pem = make_key_and_csr(pool_identity_name(slot_id))
    request = PoolEnrollRequest(
        slot_id=slot_id,
        pool_token=pool_token,  # type: ignore[arg-type]
        csr_pem=csr_pem,
        agent_version=__version__,
    )
    url = control_plane_url.rstrip("/") + "/v1/pool/enroll"
    try:
        pinned = ssl.create_default_context(cafile=str(control_plane_ca))
        with httpx.Client(verify=pinned, timeout=30, transport=transport) as client:
            response = client.post(
                url,
                content=request.model_dump_json(),
                headers={"content-type": "application/json"},
            )
    except (httpx.HTTPError, OSError) as exc:
        raise PoolEnrollError(f"cannot reach the control plane at {url}: {exc}") from None
    if response.status_code != 200:
        raise PoolEnrollError(
            f"pool enrollment refused: HTTP {response.status_code}: {response.text[:300]}",
            status=response.status_code,
        )
    answer = PoolEnrollResponse.model_validate_json(response.content)
    if answer.slot_id != slot_id:
        raise PoolEnrollError("the control plane answered for another slot")
    return PoolIdentity(slot_id, key_pem, answer.certificate_pem, answer.ca_pem)


def enroll_with_retries(
    attempt: Callable[[], PoolIdentity],
    *,
    within_s: float = 1800.0,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> PoolIdentity:
    """Retry transient failures (the control plane restarting, a replica without the pool: 404,
    5xx) with backoff; a refusal of the request itself (401 token wrong or burnt, 403, 422,
    426) is final."""
    deadline = time.monotonic() + within_s
    delay = 1.0
    while True:
        try:
            return attempt()
        except PoolEnrollError as exc:
            if exc.final or time.monotonic() + delay > deadline:
                raise
            log(f"pool enrollment failed ({exc}); retrying in {delay:.0f}s")
        sleep(delay)
        delay = min(delay * 2, 30.0)


def server_context(identity: PoolIdentity) -> ssl.SSLContext:
    """TLS for the resume endpoint: the pool certificate; the control plane's client cert required.

    The key is loaded through a 0600 file in a private temporary directory, removed at once.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="bureau-pool-tls-") as tmp:
        os.chmod(tmp, 0o700)
        cert = Path(tmp) / "pool.crt"
        key = Path(tmp) / "pool.key"
        cert.write_text(identity.certificate_pem)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(identity.key_pem)
        context.load_cert_chain(str(cert), str(key))
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=identity.ca_pem)
    return context


def _common_name(peer: dict[str, Any]) -> str | None:
    for rdn in peer.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return None


class TlsPoolServer(PoolServer):
    """``PoolServer`` over mutual TLS: the caller is authenticated by its client certificate
    (desk CA, clientAuth, CN ``bureau-control-plane``) instead of a bearer pool token."""

    def __init__(
        self,
        address: tuple[str, int],
        resumer: Resumer,
        context: ssl.SSLContext,
        *,
        hand_off: bool = True,
    ) -> None:
        super().__init__(address, resumer, None, hand_off=hand_off)
        self.context = context

    def get_request(self) -> tuple[Any, Any]:
        conn, address = self.socket.accept()
        conn.settimeout(HANDSHAKE_TIMEOUT)  # a stalled handshake must not block the server
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                conn.close()
            raise
        peer = tls.getpeercert() or {}
        if _common_name(peer) != CONTROL_PLANE_CLIENT_CN:
            with contextlib.suppress(OSError):
                tls.shutdown(socket.SHUT_RDWR)
            tls.close()
            raise OSError("a client certificate that is not the control plane's")
        return tls, address


def main(argv: list[str] | None = None) -> int:
    """``python -m bureau_agent.pool.identity --slot-id ... --control-plane-url ...``: the
    unassigned agent of a Hetzner pool server.

    Enrolls the pool identity, then runs the pool's ordinary ``main`` (``bureau_agent.pool``)
    with its resume server built as a ``TlsPoolServer`` (mutual TLS, no bearer token). The other
    options (``--port``, ``--token-file``...) pass through unchanged.
    """
    import argparse
    import logging
    import sys

    from bureau_agent.pool import __main__ as pool_main
    from bureau_agent.pool.resume import POOL_TOKEN_FILE, RESUMED_MARK

    parser = argparse.ArgumentParser(prog="python -m bureau_agent.pool.identity")
    parser.add_argument("--slot-id", required=True)
    parser.add_argument("--control-plane-url", required=True)
    parser.add_argument(
        "--control-plane-ca", type=Path, default=Path("/etc/bureau/control-plane-ca.pem")
    )
    parser.add_argument("--token-file", type=Path, default=Path(POOL_TOKEN_FILE))
    parser.add_argument("--root", type=Path, default=Path("/"))
    args, rest = parser.parse_known_args(argv)
    rest += ["--token-file", str(args.token_file), "--root", str(args.root)]
    logging.basicConfig(level=logging.INFO, format="bureau-pool: %(message)s", stream=sys.stdout)
    log = logging.getLogger("bureau_agent.pool")
    if (args.root / RESUMED_MARK.lstrip("/")).exists():
        return pool_main.main(rest)  # resumed earlier: it hands over to bureau-agent.service
    token = args.token_file.read_text().strip()
    identity = enroll_with_retries(
        lambda: enroll_pool_identity(
            args.slot_id, args.control_plane_url, args.control_plane_ca, token
        ),
        log=log.info,
    )
    context = server_context(identity)
    log.info("pool identity pool-%s enrolled: resume over mutual TLS only", args.slot_id)

    def tls_server(address: tuple[str, int], resumer: Resumer, _token: str) -> TlsPoolServer:
        return TlsPoolServer(address, resumer, context)

    # pool_main builds its resume server through this name; everything else is unchanged.
    pool_main.PoolServer = tls_server  # type: ignore[attr-defined,misc,assignment]
    return pool_main.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
