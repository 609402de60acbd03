"""Plays the desk VM for the scripted driver: enrolls a real bureau-agent and serves it.

A real VM would run cloud-init, then ``bureau-agent run``. Here the test reads the same facts out of
the rendered user-data (desk id, control plane URL and CA, bootstrap token), performs the
enrollment exchange of DESIGN.md §4 against the real control plane, and serves the agent's real
ASGI app under mutual TLS with the certificate it received, on a loopback port.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bureau_agent.app import create_app
from bureau_agent.config import load_config
from bureau_agent.credentials import Credentials, from_wire
from bureau_agent.protocol import EnrollRequest, EnrollResponse, agent_dns_name
from tests.helpers.servers import RunningServer, serve_asgi


@dataclass(frozen=True)
class BootFacts:
    desk_id: str
    control_plane_url: str
    ca_pem: str
    bootstrap_token: str


def boot_facts(user_data: str, gzipped: bool) -> BootFacts:
    """What the VM's bootstrap would read from its user-data."""
    text = gzip.decompress(base64.b64decode(user_data)).decode() if gzipped else user_data
    document: dict[str, Any] = yaml.safe_load(text)
    files = {entry["path"]: entry["content"] for entry in document.get("write_files", [])}
    env: dict[str, str] = {}
    for line in files["/etc/bureau/agent.env"].splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            env[name.strip()] = value.strip().strip("'\"")
    return BootFacts(
        desk_id=env["BUREAU_DESK_ID"],
        control_plane_url=env["BUREAU_CONTROL_PLANE_URL"],
        ca_pem=files["/etc/bureau/control-plane-ca.pem"],
        bootstrap_token=files["/etc/bureau/bootstrap-token"].strip(),
    )


def enroll(facts: BootFacts, workdir: Path) -> tuple[EnrollResponse, Path]:
    """The enrollment exchange; returns the answer and the agent's private key file."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, facts.desk_id)]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(agent_dns_name(facts.desk_id))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    request = EnrollRequest(
        desk_id=facts.desk_id,
        bootstrap_token=facts.bootstrap_token,  # type: ignore[arg-type]
        csr_pem=csr.public_bytes(serialization.Encoding.PEM).decode(),
        agent_version="test",
    )
    ca_file = workdir / "control-plane-ca.pem"
    ca_file.write_text(facts.ca_pem)
    context = ssl.create_default_context(cafile=str(ca_file))
    response = httpx.post(
        facts.control_plane_url.rstrip("/") + "/v1/agent/enroll",
        content=request.model_dump_json(),
        headers={"content-type": "application/json"},
        verify=context,
        timeout=30,
    )
    response.raise_for_status()
    key_file = workdir / "agent-key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return EnrollResponse.model_validate_json(response.content), key_file


@contextlib.contextmanager
def serve_desk_agent(facts: BootFacts, port: int) -> Iterator[RunningServer]:
    """Enroll, then serve the agent (mutual TLS, desk CA) on ``127.0.0.1:port``."""
    with tempfile.TemporaryDirectory(prefix="bureau-desk-") as tmp:
        workdir = Path(tmp)
        answer, key_file = enroll(facts, workdir)
        cert_file = workdir / "agent-cert.pem"
        cert_file.write_text(answer.certificate_pem)
        desk_ca = workdir / "desk-ca.pem"
        desk_ca.write_text(answer.ca_pem)
        config = load_config(
            BUREAU_AGENT_DATA_DIR=str(workdir / "data"),
            BUREAU_WORKSPACE_DIR=str(workdir / "home"),
            BUREAU_DESK_ID=facts.desk_id,
        )
        # Tool commands run as another user (``nobody`` under root): let it into its workspace.
        workdir.chmod(0o755)
        (workdir / "home").mkdir(mode=0o777)
        (workdir / "home").chmod(0o777)
        credentials = Credentials(
            provider=from_wire(answer.provider) if answer.provider else None,
            embeddings=answer.embeddings,
        )
        app = create_app(config, credentials=credentials, mutual_tls=True, desk_id=facts.desk_id)
        with serve_asgi(
            app,
            port=port,
            certfile=cert_file,
            keyfile=key_file,
            ca_certs=desk_ca,
            client_cert_required=True,
        ) as server:
            yield server
