"""Desk enrollment against a small control plane over pinned TLS, then serving mutual TLS."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi import FastAPI, HTTPException

from bureau_agent.app import create_app
from bureau_agent.config import AgentConfig
from bureau_agent.enroll import EnrollmentError, ensure_enrolled
from bureau_agent.protocol import EnrollRequest, EnrollResponse, ProviderCredentials, agent_dns_name
from tests.fakes.fixtures import FakeProviderServer
from tests.helpers.servers import free_port, serve_asgi
from tests.helpers.wait import wait_until

DESK = "desk_0123"
TOKEN = "bt_bootstrap-token-value"
KEY = "sk-enrolled-provider-key-9876"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class CA:
    name: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def __post_init__(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(self.name))
            .issuer_name(_name(self.name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(
        self,
        subject: x509.Name,
        public_key: object,
        sans: list[x509.GeneralName],
        usage: x509.ObjectIdentifier,
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def leaf(
        self, tmp: Path, name: str, sans: list[x509.GeneralName], usage: x509.ObjectIdentifier
    ) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.issue(_name(name), key.public_key(), sans, usage)
        cert_path, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path


@dataclass
class ControlPlane:
    url: str
    ca_file: Path
    desk_ca: CA
    enrollments: list[EnrollRequest]


def control_plane_app(desk_ca: CA, fake: FakeProviderServer, seen: list[EnrollRequest]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/agent/enroll")
    def enroll(body: EnrollRequest) -> EnrollResponse:
        if body.bootstrap_token.get_secret_value() != TOKEN or any(
            s.desk_id == body.desk_id for s in seen
        ):
            raise HTTPException(401, "bootstrap token invalid or used")
        seen.append(body)
        csr = x509.load_pem_x509_csr(body.csr_pem.encode())
        sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        cert = desk_ca.issue(csr.subject, csr.public_key(), sans, ExtendedKeyUsageOID.SERVER_AUTH)
        return EnrollResponse(
            desk_id=body.desk_id,
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            ca_pem=desk_ca.pem,
            provider=ProviderCredentials(
                provider="openai",
                api_key=KEY,
                model="gpt-4o",
                endpoint=fake.openai_base_url + "/chat/completions",  # type: ignore[arg-type]
            ),
        )

    return app


@pytest.fixture
def control_plane(tmp_path: Path, fake_provider: FakeProviderServer) -> Iterator[ControlPlane]:
    cp_ca, desk_ca = CA("control plane CA"), CA("desk CA")
    cert, key = cp_ca.leaf(
        tmp_path,
        "cp",
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        ExtendedKeyUsageOID.SERVER_AUTH,
    )
    ca_file = tmp_path / "cp-ca.pem"
    ca_file.write_text(cp_ca.pem)
    seen: list[EnrollRequest] = []
    with serve_asgi(
        control_plane_app(desk_ca, fake_provider, seen), certfile=cert, keyfile=key
    ) as server:
        yield ControlPlane(server.url, ca_file, desk_ca, seen)


def desk_config(tmp_path: Path, cp: ControlPlane) -> AgentConfig:
    token_file = tmp_path / "bootstrap-token"
    token_file.write_text(TOKEN + "\n")
    user_data = tmp_path / "user-data.txt"
    user_data.write_text("#cloud-config\n")
    return AgentConfig(
        BUREAU_DESK_ID=DESK,
        BUREAU_CONTROL_PLANE_URL=cp.url,
        BUREAU_CONTROL_PLANE_CA_FILE=cp.ca_file,
        BUREAU_BOOTSTRAP_TOKEN_FILE=token_file,
        BUREAU_USER_DATA_COPIES=[user_data],
        BUREAU_AGENT_DATA_DIR=tmp_path / "agent",
    )


def test_enrollment_stores_material_and_scrubs_the_token(
    tmp_path: Path, control_plane: ControlPlane
) -> None:
    config = desk_config(tmp_path, control_plane)
    tls, creds = ensure_enrolled(config)
    request = control_plane.enrollments[0]
    csr = x509.load_pem_x509_csr(request.csr_pem.encode())
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DESK
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [agent_dns_name(DESK)]
    assert oct(tls.key.stat().st_mode & 0o777) == "0o600"
    assert oct((config.secrets_dir / "provider.json").stat().st_mode & 0o777) == "0o600"
    assert creds.provider is not None and creds.provider.api_key.get_secret_value() == KEY
    assert not config.bootstrap_token_file.exists()
    assert not config.user_data_copies[0].exists()
    assert (config.data_dir / "enrolled").exists()


def test_restart_with_a_certificate_skips_enrollment(
    tmp_path: Path, control_plane: ControlPlane
) -> None:
    config = desk_config(tmp_path, control_plane)
    ensure_enrolled(config)
    _, creds = ensure_enrolled(config)
    assert len(control_plane.enrollments) == 1
    assert creds.provider is not None and creds.provider.model == "gpt-4o"


def test_a_refused_token_is_a_clear_error(tmp_path: Path, control_plane: ControlPlane) -> None:
    config = desk_config(tmp_path, control_plane)
    config.bootstrap_token_file.write_text("bt_wrong")
    with pytest.raises(EnrollmentError, match="HTTP 401") as info:
        ensure_enrolled(config)
    assert "bt_wrong" not in str(info.value)


def test_serves_mutual_tls_with_the_enrolled_certificate(
    tmp_path: Path, control_plane: ControlPlane
) -> None:
    config = desk_config(tmp_path, control_plane)
    tls, creds = ensure_enrolled(config)
    app = create_app(config, credentials=creds, mutual_tls=True)
    client_cert, client_key = control_plane.desk_ca.leaf(
        tmp_path, "control-plane-client", [x509.DNSName("cp")], ExtendedKeyUsageOID.CLIENT_AUTH
    )
    context = ssl.create_default_context(cadata=control_plane.desk_ca.pem)
    context.check_hostname = False  # the agent's name is agent_dns_name(DESK), we dial 127.0.0.1
    context.load_cert_chain(client_cert, client_key)
    with serve_asgi(
        app, certfile=tls.cert, keyfile=tls.key, ca_certs=tls.client_ca, client_cert_required=True
    ) as server:
        health = httpx.get(server.url + "/desk/v1/health", verify=context).json()
        assert (health["status"], health["desk_id"], health["model"]) == ("ok", DESK, "gpt-4o")
        assert httpx.get(server.url + "/v1/assistants", verify=context).status_code == 200
        anonymous = ssl.create_default_context(cadata=control_plane.desk_ca.pem)
        anonymous.check_hostname = False
        with pytest.raises(httpx.HTTPError):
            httpx.get(server.url + "/desk/v1/health", verify=anonymous)


def test_another_desks_server_certificate_is_refused_as_a_client(
    tmp_path: Path, control_plane: ControlPlane
) -> None:
    config = desk_config(tmp_path, control_plane)
    tls, creds = ensure_enrolled(config)
    app = create_app(config, credentials=creds, mutual_tls=True)
    other_cert, other_key = control_plane.desk_ca.leaf(
        tmp_path,
        "other-desk",
        [x509.DNSName(agent_dns_name("desk_other"))],
        ExtendedKeyUsageOID.SERVER_AUTH,
    )
    context = ssl.create_default_context(cadata=control_plane.desk_ca.pem)
    context.check_hostname = False
    context.load_cert_chain(other_cert, other_key)
    with serve_asgi(
        app, certfile=tls.cert, keyfile=tls.key, ca_certs=tls.client_ca, client_cert_required=True
    ) as server:
        with pytest.raises(httpx.HTTPError):
            httpx.get(server.url + "/desk/v1/health", verify=context)


def test_bureau_agent_run_enrolls_and_serves_mutual_tls(
    tmp_path: Path, control_plane: ControlPlane
) -> None:
    config = desk_config(tmp_path, control_plane)
    port = free_port()
    env_file = tmp_path / "agent.env"
    env_file.write_text(
        "\n".join(
            [
                f"BUREAU_DESK_ID={DESK}",
                f"BUREAU_CONTROL_PLANE_URL={control_plane.url}",
                f"BUREAU_CONTROL_PLANE_CA_FILE={control_plane.ca_file}",
                f"BUREAU_BOOTSTRAP_TOKEN_FILE={config.bootstrap_token_file}",
                f'BUREAU_USER_DATA_COPIES=["{config.user_data_copies[0]}"]',
                f"BUREAU_AGENT_DATA_DIR={config.data_dir}",
                "BUREAU_AGENT_HOST=127.0.0.1",
                f"BUREAU_AGENT_PORT={port}",
            ]
        )
    )
    client_cert, client_key = control_plane.desk_ca.leaf(
        tmp_path, "cp-client", [x509.DNSName("cp")], ExtendedKeyUsageOID.CLIENT_AUTH
    )
    context = ssl.create_default_context(cadata=control_plane.desk_ca.pem)
    context.check_hostname = False
    context.load_cert_chain(client_cert, client_key)
    agent = Path(sys.executable).parent / "bureau-agent"
    proc = subprocess.Popen(
        [str(agent), "run", "--config", str(env_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"https://127.0.0.1:{port}/desk/v1/health"
        health = wait_until(
            lambda: httpx.get(url, verify=context, timeout=2).json(),
            timeout=120,
            interval=0.5,
            message="agent serving mutual TLS",
        )
        assert (health["status"], health["desk_id"]) == ("ok", DESK)
        assert not config.bootstrap_token_file.exists()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
