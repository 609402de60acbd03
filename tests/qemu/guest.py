"""Test guests: user-data that runs the image's agent standalone and probes the network.

Used by tests/qemu (no control plane): the agent serves TLS with a throwaway self-signed
certificate, and first boot writes probe results to the serial console, one line each:
``PROBE <host>:<port> open|closed`` and ``DATA-DISK: <marker>`` on every boot.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
from dataclasses import dataclass

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

AGENT_TOKEN = "test-agent-token-not-a-secret"


@dataclass(frozen=True)
class SelfSigned:
    cert_pem: str
    key_pem: str


def self_signed(name: str = "desk.test") -> SelfSigned:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return SelfSigned(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem)


def pinned_context(tls: SelfSigned) -> ssl.SSLContext:
    """Trust exactly the guest agent's throwaway certificate."""
    return ssl.create_default_context(cadata=tls.cert_pem)


def standalone_user_data(
    tls: SelfSigned, probes: list[str], marker: str, fetch_url: str | None = None
) -> str:
    """#cloud-config: agent standalone on 0.0.0.0:7443 (TLS), probes, data-disk marker."""
    probe_lines = " ".join(probes)
    probe_script = f"""#!/bin/bash
for target in {probe_lines}; do
  if timeout 4 bash -c "exec 3<>/dev/tcp/${{target%:*}}/${{target#*:}}" 2>/dev/null; then
    echo "PROBE $target open" >/dev/ttyS0
  else
    echo "PROBE $target closed" >/dev/ttyS0
  fi
done
"""
    if fetch_url:
        probe_script += f'echo "FETCH $(curl -s -m 10 {fetch_url})" >/dev/ttyS0\n'
    unit = f"""[Unit]
Description=Bureau agent (standalone, tests)
After=network-online.target

[Service]
Environment=BUREAU_AGENT_TOKEN={AGENT_TOKEN}
Environment=BUREAU_AGENT_DATA_DIR=/var/lib/bureau-test/agent
ExecStart=/bin/sh -c 'echo AGENT-STARTING >/dev/ttyS0; exec /opt/bureau/venv/bin/bureau-agent \\
  serve --host 0.0.0.0 --port 7443 --tls-cert /etc/bureau-test/cert.pem \\
  --tls-key /etc/bureau-test/key.pem >/dev/ttyS0 2>&1'
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""
    data_disk = (
        "mkdir -p /mnt/data && mount /dev/vdb /mnt/data && "
        "echo DATA-DISK: $(cat /mnt/data/marker 2>/dev/null || echo none) >/dev/ttyS0"
    )
    doc = {
        "bootcmd": [["sh", "-c", data_disk]],
        "write_files": [
            {"path": "/etc/bureau-test/cert.pem", "content": tls.cert_pem},
            {"path": "/etc/bureau-test/key.pem", "content": tls.key_pem, "permissions": "0600"},
            {"path": "/etc/systemd/system/bureau-test-agent.service", "content": unit},
            {
                "path": "/usr/local/sbin/bureau-probes",
                "content": probe_script,
                "permissions": "0755",
            },
        ],
        "runcmd": [
            # The image runs runcmd in cloud-init's init stage (before sysinit.target): never
            # block on a start job there, and skip the daemon-reload that `enable` would do.
            ["systemctl", "--no-reload", "enable", "bureau-test-agent.service"],
            ["systemctl", "--no-block", "start", "bureau-test-agent.service"],
            ["sh", "-c", f"echo {marker} > /mnt/data/marker && sync"],
            ["/usr/local/sbin/bureau-probes"],
            # Name resolution once booted (asserted), then the boot profile on the console
            # (diagnostics for slow boots; not asserted).
            [
                "sh",
                "-c",
                "(systemctl is-system-running --wait >/dev/null 2>&1; "
                "echo RESOLVER $(systemctl is-active systemd-resolved); "
                "echo LOOKUP $(getent ahostsv4 deb.debian.org >/dev/null && echo ok || echo no); "
                "systemd-analyze; systemd-analyze blame | head -12; "
                "systemd-analyze critical-chain cloud-init.service) >/dev/ttyS0 2>&1 &",
            ],
        ],
    }
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False)


_PROBE = re.compile(r"PROBE (\S+) (open|closed)")


def probe_results(console: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _PROBE.finditer(console)}


def data_disk_marker(console: str) -> str | None:
    found = re.findall(r"DATA-DISK: (\S+)", console)
    return found[-1] if found else None


def fetched(console: str) -> str | None:
    found = re.findall(r"FETCH (.*)", console)
    return found[-1].strip() if found else None


def resolver_facts(console: str) -> dict[str, str]:
    """``RESOLVER`` (systemd-resolved's state) and ``LOOKUP`` (a public name) once booted."""
    return dict(re.findall(r"^(RESOLVER|LOOKUP) (\S+)", console, re.MULTILINE))
