"""The rendered bootstrap script's agent install, run for real on this host.

Its ``install_agent`` function downloads the wheel from a real HTTPS server (loopback, a test
CA pinned with ``--cacert``), checks the sha256, installs it into a venv and verifies
``bureau-agent --version``. Only the paths are moved into a temporary directory; the shell code is
the rendered one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from cloud_init import AgentDist, render_desk
from tests.cloud_init.desks import minimal_desk
from tests.helpers.servers import serve_asgi

VERSION = "0.1.0"
WHEEL = f"bureau_agent-{VERSION}-py3-none-any.whl"


@dataclass
class DistServer:
    url: str
    ca_pem: str
    dist: Path
    requests: list[str]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _tls_files(tmp: Path) -> tuple[str, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test dist CA"))
        .issuer_name(_name("test dist CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    certfile, keyfile = tmp / "server.pem", tmp / "server.key"
    certfile.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM).decode(), certfile, keyfile


def _fake_agent_wheel(path: Path) -> None:
    """A minimal wheel whose ``bureau-agent --version`` prints like the real one."""
    dist_info = f"bureau_agent-{VERSION}.dist-info"
    files = {
        "bureau_agent_fake_cli.py": f"def main():\n    print('bureau-agent {VERSION}')\n",
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: bureau-agent\nVersion: {VERSION}\n"
        ),
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{dist_info}/entry_points.txt": (
            "[console_scripts]\nbureau-agent = bureau_agent_fake_cli:main\n"
        ),
    }
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
        wheel.writestr(f"{dist_info}/RECORD", "".join(f"{name},,\n" for name in files))


@pytest.fixture(scope="module")
def dist_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistServer]:
    tmp = tmp_path_factory.mktemp("dist")
    dist = tmp / "dist"
    dist.mkdir()
    _fake_agent_wheel(dist / WHEEL)
    ca_pem, certfile, keyfile = _tls_files(tmp)
    requests: list[str] = []

    async def serve_file(request: Request) -> Response:
        name = request.path_params["name"]
        requests.append(name)
        path = dist / name
        if "/" in name or not path.is_file():
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(path)

    app = Starlette(routes=[Route("/v1/agent/dist/{name}", serve_file)])
    with serve_asgi(app, certfile=certfile, keyfile=keyfile) as server:
        yield DistServer(server.url, ca_pem, dist, requests)


def _install_script(server: DistServer, tmp: Path, sha256: str, ca_pem: str) -> Path:
    """The rendered script's functions, with its paths moved under ``tmp``."""
    settings = minimal_desk(
        control_plane_url=server.url,
        control_plane_ca_pem=ca_pem,
        agent_dist=AgentDist(version=VERSION, filename=WHEEL, sha256=sha256),
    )
    doc = yaml.safe_load(render_desk(settings).text)
    script = next(f for f in doc["write_files"] if f["path"] == "/usr/local/sbin/bureau-bootstrap")
    text = script["content"].split("# --- main ---")[0]
    (tmp / "ca.pem").write_text(ca_pem)
    text = re.sub(r"(?m)^VENV=.*$", f"VENV={tmp / 'venv'}", text)
    text = re.sub(r"(?m)^CA=.*$", f"CA={tmp / 'ca.pem'}", text)
    text = re.sub(r"(?m)^FETCH_RETRIES=.*$", "FETCH_RETRIES=0", text)
    path = tmp / "bootstrap-lib.sh"
    path.write_text(text + "\ninstall_agent\n")
    return path


def _run(script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(script.parent), "TMPDIR": str(script.parent)},
    )


def _sha(server: DistServer) -> str:
    return hashlib.sha256((server.dist / WHEEL).read_bytes()).hexdigest()


@pytest.mark.slow
def test_agent_is_installed_from_the_pinned_server_then_left_alone(
    dist_server: DistServer, tmp_path: Path
) -> None:
    script = _install_script(dist_server, tmp_path, _sha(dist_server), dist_server.ca_pem)
    first = _run(script)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "installing agent 0.1.0" in first.stdout
    version = subprocess.run(
        [str(tmp_path / "venv/bin/bureau-agent"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == "bureau-agent 0.1.0"
    fetched = len(dist_server.requests)
    second = _run(script)
    assert second.returncode == 0, second.stderr
    assert "agent 0.1.0 already installed" in second.stdout
    assert len(dist_server.requests) == fetched
    assert (tmp_path / "agent-version").read_text() == "0.1.0\n"


@pytest.mark.slow
def test_a_stale_version_file_does_not_skip_the_install(
    dist_server: DistServer, tmp_path: Path
) -> None:
    script = _install_script(dist_server, tmp_path, _sha(dist_server), dist_server.ca_pem)
    (tmp_path / "agent-version").write_text("0.0.9\n")
    (tmp_path / "venv/bin").mkdir(parents=True)
    stale = tmp_path / "venv/bin/bureau-agent"
    stale.write_text("#!/bin/sh\necho bureau-agent 0.0.9\n")
    stale.chmod(0o755)
    result = _run(script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "installing agent 0.1.0" in result.stdout


def test_wheel_with_a_wrong_sha256_is_refused(dist_server: DistServer, tmp_path: Path) -> None:
    script = _install_script(dist_server, tmp_path, "0" * 64, dist_server.ca_pem)
    result = _run(script)
    assert result.returncode != 0
    assert "sha256 mismatch" in result.stdout
    assert not (tmp_path / "venv").exists()


def test_server_not_signed_by_the_pinned_ca_is_refused(
    dist_server: DistServer, tmp_path: Path
) -> None:
    other_ca, _, _ = _tls_files(tmp_path)
    script = _install_script(dist_server, tmp_path, _sha(dist_server), other_ca)
    result = _run(script)
    assert result.returncode != 0
    assert "certificate" in result.stderr.lower()
    assert not (tmp_path / "venv").exists()
