"""A test client that plays a desk's agent: real key pair, real CSR, real enrollment, and a real
mutual-TLS server with the certificate the control plane signed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import re
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from orchestrator.drivers.base import DeskSpec
from orchestrator.protocol import EnrollResponse, Health, ProviderUpdate, agent_dns_name
from tests.helpers.servers import RunningServer, serve_asgi

TOKEN_RE = re.compile(r"bt_[A-Za-z0-9_\-]{30,}")


def user_data_text(spec: DeskSpec) -> str:
    if spec.user_data_gzipped:
        return gzip.decompress(base64.b64decode(spec.user_data)).decode()
    return spec.user_data


def bootstrap_token(spec: DeskSpec) -> str:
    match = TOKEN_RE.search(user_data_text(spec))
    assert match, "no bootstrap token in the rendered user-data"
    return match.group(0)


@dataclass
class AgentDouble:
    desk_id: str
    workdir: Path
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    enrolled: EnrollResponse | None = None
    provider_updates: list[ProviderUpdate] = field(default_factory=list)
    status: str = "ok"
    stream_gate: threading.Event = field(default_factory=threading.Event)

    def csr_pem(self) -> str:
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.desk_id)]))
            .sign(self.key, hashes.SHA256())
        )
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def enroll(self, cp_url: str, ca: Path, token: str) -> httpx.Response:
        body = {
            "protocol_version": 1,
            "desk_id": self.desk_id,
            "bootstrap_token": token,
            "csr_pem": self.csr_pem(),
            "agent_version": "0.1.0-test",
        }
        response = httpx.post(
            f"{cp_url}/v1/agent/enroll",
            json=body,
            verify=ssl.create_default_context(cafile=str(ca)),
            timeout=30,
        )
        if response.status_code == 200:
            self.enrolled = EnrollResponse.model_validate_json(response.content)
        return response

    # --- the mutual-TLS server -------------------------------------------------------------
    def _files(self) -> tuple[Path, Path, Path]:
        assert self.enrolled is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        cert = self.workdir / "agent.pem"
        key = self.workdir / "agent-key.pem"
        ca = self.workdir / "desk-ca.pem"
        cert.write_text(self.enrolled.certificate_pem)
        ca.write_text(self.enrolled.ca_pem)
        key.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert, key, ca

    def app(self) -> Starlette:
        async def health(request: Request) -> Response:
            current = self.provider_updates[-1].provider if self.provider_updates else None
            creds = current or (self.enrolled.provider if self.enrolled else None)
            body = Health(
                desk_id=self.desk_id,
                agent_version="0.1.0-test",
                status=self.status,  # type: ignore[arg-type]
                provider=creds.provider if creds else None,
                model=creds.model if creds else None,
            )
            return Response(body.model_dump_json(), media_type="application/json")

        async def provider(request: Request) -> Response:
            update = ProviderUpdate.model_validate_json(await request.body())
            self.provider_updates.append(update)
            self.status = "ok"
            return await health(request)

        async def echo(request: Request) -> Response:
            body = await request.body()
            return JSONResponse(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "query": dict(request.query_params),
                    "body": body.decode(errors="replace"),
                    "authorization": request.headers.get("authorization"),
                }
            )

        async def stream(request: Request) -> Response:
            gate = self.stream_gate

            async def events() -> AsyncIterator[bytes]:
                yield b"data: first\n\n"
                while not gate.is_set():
                    await asyncio.sleep(0.01)
                yield b"data: second\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        async def upload(request: Request) -> Response:
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
            return JSONResponse({"received": total})

        return Starlette(
            routes=[
                Route("/desk/v1/health", health),
                Route("/desk/v1/provider", provider, methods=["PUT"]),
                Route("/v1/echo", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
                Route("/v1/stream", stream),
                Route("/v1/upload", upload, methods=["POST"]),
            ]
        )

    @contextlib.contextmanager
    def serve(self, port: int) -> Iterator[RunningServer]:
        cert, key, ca = self._files()
        with serve_asgi(
            self.app(), port=port, certfile=cert, keyfile=key, ca_certs=ca,
            client_cert_required=True,
        ) as server:  # fmt: skip
            yield server


def verify_agent_certificate(response: EnrollResponse, desk_id: str, ca_pem: str) -> None:
    """The returned certificate chains to the desk CA and names the desk (a real TLS check)."""
    cert = x509.load_pem_x509_certificate(response.certificate_pem.encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == desk_id
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [agent_dns_name(desk_id)]
    assert response.ca_pem == ca_pem
    ssl.create_default_context(cadata=ca_pem)  # parses as a CA bundle


def to_json(response: httpx.Response) -> Any:
    return json.loads(response.content)
