"""The control plane's two certificate authorities, kept under ``<data_dir>/tls/``.

- The **control-plane CA** (``ca.pem``) signs the HTTPS server certificate (``server.pem``). Clients
  (CLI, SDKs, desk VMs through their user-data) pin ``ca.pem``.
- The **desk CA** (``desk-ca.pem``) signs each agent's server certificate from the agent's CSR
  (CN = desk id, DNS SAN = ``protocol.agent_dns_name(desk_id)``, EKU serverAuth only) and the
  control plane's client certificate (``client.pem``, EKU clientAuth only) for mutual TLS to
  agents. The EKUs keep one desk's certificate from acting as the control plane towards another.

Private keys are written 0600. The server certificate is re-issued when its names change.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from orchestrator.protocol import agent_dns_name

CLIENT_CN = "bureau-control-plane"
_ONE_DAY = dt.timedelta(days=1)


class CsrError(ValueError):
    """The agent's certificate signing request is unusable; the message says why."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    return key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _make_ca(common_name: str, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - _ONE_DAY)
        .not_valid_after(_now() + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf(
    *,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    common_name: str,
    sans: list[str],
    usage: x509.ObjectIdentifier,
    days: int,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - _ONE_DAY)
        .not_valid_after(_now() + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_san(n) for n in sans]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


@dataclass(frozen=True)
class TlsPaths:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca-key.pem"

    @property
    def server(self) -> Path:
        return self.dir / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.dir / "server-key.pem"

    @property
    def desk_ca(self) -> Path:
        return self.dir / "desk-ca.pem"

    @property
    def desk_ca_key(self) -> Path:
        return self.dir / "desk-ca-key.pem"

    @property
    def client(self) -> Path:
        return self.dir / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.dir / "client-key.pem"


class Pki:
    """Loads or creates the CAs and certificates; signs agent CSRs."""

    def __init__(self, tls_dir: Path, server_sans: list[str]) -> None:
        self.paths = TlsPaths(tls_dir)
        tls_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(tls_dir, 0o700)
        # Several processes (serve, workers) may start on a fresh data dir at once.
        with open(tls_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._ca_cert, self._ca_key = self._ensure_ca(
                self.paths.ca, self.paths.ca_key, "Bureau control plane CA"
            )
            self._desk_ca_cert, self._desk_ca_key = self._ensure_ca(
                self.paths.desk_ca, self.paths.desk_ca_key, "Bureau desk CA"
            )
            self._ensure_server(server_sans)
            self._ensure_client()

    # --- creation ---------------------------------------------------------------------------
    @staticmethod
    def _ensure_ca(
        cert_path: Path, key_path: Path, name: str
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        if cert_path.exists() and key_path.exists():
            return x509.load_pem_x509_certificate(cert_path.read_bytes()), _load_key(key_path)
        key = _new_key()
        cert = _make_ca(name, key)
        _write_private(key_path, key)
        cert_path.write_bytes(_pem(cert))
        return cert, key

    def _ensure_server(self, sans: list[str]) -> None:
        if self.paths.server.exists() and self.paths.server_key.exists():
            cert = x509.load_pem_x509_certificate(self.paths.server.read_bytes())
            try:
                ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                current = {str(v.value) for v in ext.value}
            except x509.ExtensionNotFound:
                current = set()
            wanted = {str(_san(n).value) for n in sans}
            fresh = cert.not_valid_after_utc - _now() > dt.timedelta(days=30)
            if current == wanted and fresh and cert.issuer == self._ca_cert.subject:
                return
        key = _new_key()
        cert = _leaf(
            ca_cert=self._ca_cert,
            ca_key=self._ca_key,
            public_key=key.public_key(),
            common_name=sans[0] if sans else "localhost",
            sans=sans,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            days=825,
        )
        _write_private(self.paths.server_key, key)
        self.paths.server.write_bytes(_pem(cert))

    def _ensure_client(self) -> None:
        if self.paths.client.exists() and self.paths.client_key.exists():
            cert = x509.load_pem_x509_certificate(self.paths.client.read_bytes())
            if cert.issuer == self._desk_ca_cert.subject:
                return
        key = _new_key()
        cert = _leaf(
            ca_cert=self._desk_ca_cert,
            ca_key=self._desk_ca_key,
            public_key=key.public_key(),
            common_name=CLIENT_CN,
            sans=[],
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
            days=3650,
        )
        _write_private(self.paths.client_key, key)
        self.paths.client.write_bytes(_pem(cert))

    # --- use --------------------------------------------------------------------------------
    @property
    def ca_pem(self) -> str:
        return _pem(self._ca_cert).decode()

    @property
    def desk_ca_pem(self) -> str:
        return _pem(self._desk_ca_cert).decode()

    def sign_agent_csr(self, csr_pem: str, desk_id: str) -> str:
        """Sign an agent's CSR: CN = desk id, DNS SAN = agent_dns_name(desk_id), serverAuth."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError as exc:
            raise CsrError("csr_pem is not a PEM certificate signing request") from exc
        if not csr.is_signature_valid:
            raise CsrError("the CSR's signature does not match its public key")
        public_key = csr.public_key()
        if isinstance(public_key, rsa.RSAPublicKey):
            if public_key.key_size < 2048:
                raise CsrError("RSA keys must have at least 2048 bits")
        elif not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise CsrError("the CSR's key must be EC (P-256/P-384) or RSA")
        cert = _leaf(
            ca_cert=self._desk_ca_cert,
            ca_key=self._desk_ca_key,
            public_key=public_key,
            common_name=desk_id,
            sans=[agent_dns_name(desk_id)],
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            days=397,
        )
        return _pem(cert).decode()

    def agent_client_context(self) -> ssl.SSLContext:
        """TLS context for calls to agents: trusts the desk CA only, presents the client cert."""
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(self.paths.desk_ca)
        )
        context.load_cert_chain(str(self.paths.client), str(self.paths.client_key))
        return context
