"""First boot in a desk: enroll with the control plane, then keep the TLS material and the key.

The exchange (DESIGN.md §4, ``protocol``): generate a key pair and a CSR (CN = desk id, DNS SAN
``agent_dns_name``), POST ``/v1/agent/enroll`` with the single-use bootstrap token over TLS pinned
to the control plane CA, receive the signed certificate, the desk CA (which signs the control
plane's client certificate) and the provider key. The private key and the provider key go to
0600 files under the data dir; then the bootstrap token and cloud-init's user-data copies are
deleted (where the agent may; the image's root path unit deletes the rest when ``enrolled``
appears). A restart with a certificate on disk skips enrollment.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bureau_agent import credentials
from bureau_agent.config import AgentConfig
from bureau_agent.credentials import Credentials
from bureau_agent.protocol import EnrollRequest, EnrollResponse, agent_dns_name
from bureau_agent.version import __version__

KEY_FILE = "agent.key"
CERT_FILE = "agent.crt"
CA_FILE = "desk-ca.pem"
ENROLLED_MARK = "enrolled"


class EnrollmentError(Exception):
    """Enrollment failed; the message says why (never containing the token)."""


@dataclass(frozen=True)
class TlsMaterial:
    cert: Path
    key: Path
    client_ca: Path


def make_key_and_csr(desk_id: str) -> tuple[bytes, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, desk_id)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(agent_dns_name(desk_id))]), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def material(config: AgentConfig) -> TlsMaterial:
    d = config.tls_dir
    return TlsMaterial(cert=d / CERT_FILE, key=d / KEY_FILE, client_ca=d / CA_FILE)


def enroll(config: AgentConfig, *, transport: httpx.BaseTransport | None = None) -> EnrollResponse:
    if not config.desk_id or not config.control_plane_url:
        raise EnrollmentError("BUREAU_DESK_ID and BUREAU_CONTROL_PLANE_URL are required to enroll")
    try:
        token = config.bootstrap_token_file.read_text().strip()
    except OSError as exc:
        raise EnrollmentError(f"cannot read the bootstrap token file: {exc.strerror}") from None
    key_pem, csr_pem = make_key_and_csr(config.desk_id)
    request = EnrollRequest(
        desk_id=config.desk_id,
        bootstrap_token=token,  # type: ignore[arg-type]
        csr_pem=csr_pem,
        agent_version=__version__,
    )
    url = config.control_plane_url.rstrip("/") + "/v1/agent/enroll"
    try:
        pinned = ssl.create_default_context(cafile=str(config.control_plane_ca_file))
        with httpx.Client(verify=pinned, timeout=30, transport=transport) as client:
            response = client.post(
                url,
                content=request.model_dump_json(),
                headers={"content-type": "application/json"},
            )
    except (httpx.HTTPError, OSError) as exc:  # OSError: an unreadable or invalid CA file
        raise EnrollmentError(f"cannot reach the control plane at {url}: {exc}") from None
    if response.status_code != 200:
        raise EnrollmentError(
            f"enrollment refused: HTTP {response.status_code}: {response.text[:300]}"
        )
    answer = EnrollResponse.model_validate_json(response.content)
    tls = material(config)
    _write_private(tls.key, key_pem)
    tls.cert.write_text(answer.certificate_pem)
    tls.client_ca.write_text(answer.ca_pem)
    if answer.provider is not None:
        credentials.save(config.secrets_dir, answer.provider, answer.embeddings)
    scrub_bootstrap(config)
    return answer


def scrub_bootstrap(config: AgentConfig) -> None:
    """Delete the bootstrap token and cloud-init's user-data copies, then mark ``enrolled``."""
    for path in [config.bootstrap_token_file, *config.user_data_copies]:
        with contextlib.suppress(OSError):
            path.unlink()
    (config.data_dir / ENROLLED_MARK).touch()


def ensure_enrolled(config: AgentConfig) -> tuple[TlsMaterial, Credentials]:
    """Enroll unless a certificate and key are already on disk; load the provider key file."""
    tls = material(config)
    if not (tls.cert.exists() and tls.key.exists() and tls.client_ca.exists()):
        enroll(config)
    loaded = credentials.load(config.secrets_dir)
    creds = Credentials(provider=credentials.from_config(config))
    if loaded is not None:
        creds = Credentials(provider=credentials.from_wire(loaded[0]), embeddings=loaded[1])
    return tls, creds
