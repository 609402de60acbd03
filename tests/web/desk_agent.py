"""Plays the desk VM for the scripted driver: enrolls a real bureau-agent and serves it.

A real VM would run cloud-init, then ``bureau-agent run``. Here the test takes the same files out
of the rendered user-data (agent.env, the control plane CA, the bootstrap token), enrolls with the
agent's own ``ensure_enrolled`` against the real control plane, and serves the agent's real ASGI
app in-process under mutual TLS with the certificate it received, on a loopback port (in-process so
that the desks' provider endpoints can point at the fake provider).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import os
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from bureau_agent.app import create_app
from bureau_agent.config import load_config
from bureau_agent.enroll import enroll, ensure_enrolled
from tests.helpers.servers import RunningServer, serve_asgi


@dataclass(frozen=True)
class BootFacts:
    """What the VM's bootstrap reads from its user-data."""

    desk_id: str
    agent_env: str
    ca_pem: str
    bootstrap_token: str


def boot_facts(user_data: str, gzipped: bool) -> BootFacts:
    text = gzip.decompress(base64.b64decode(user_data)).decode() if gzipped else user_data
    document: dict[str, Any] = yaml.safe_load(text)
    files = {entry["path"]: entry["content"] for entry in document.get("write_files", [])}
    agent_env = files["/etc/bureau/agent.env"]
    desk_id = next(
        line.split("=", 1)[1].strip().strip("'\"")
        for line in agent_env.splitlines()
        if line.startswith("BUREAU_DESK_ID=")
    )
    return BootFacts(
        desk_id=desk_id,
        agent_env=agent_env,
        ca_pem=files["/etc/bureau/control-plane-ca.pem"],
        bootstrap_token=files["/etc/bureau/bootstrap-token"].strip(),
    )


@contextlib.contextmanager
def serve_desk_agent(facts: BootFacts, port: int) -> Iterator[RunningServer]:
    """Enroll with the agent's own code (``ensure_enrolled``), then serve it under mutual TLS."""
    with tempfile.TemporaryDirectory(prefix="bureau-desk-") as tmp:
        workdir = Path(tmp)
        (workdir / "agent.env").write_text(facts.agent_env)
        (workdir / "control-plane-ca.pem").write_text(facts.ca_pem)
        (workdir / "bootstrap-token").write_text(facts.bootstrap_token + "\n")
        # Tool commands run as another user (``nobody`` under root): let it into its workspace.
        workdir.chmod(0o755)
        (workdir / "home").mkdir(mode=0o777)
        (workdir / "home").chmod(0o777)
        config = load_config(
            workdir / "agent.env",
            BUREAU_AGENT_DATA_DIR=str(workdir / "data"),
            BUREAU_WORKSPACE_DIR=str(workdir / "home"),
            BUREAU_CONTROL_PLANE_CA_FILE=str(workdir / "control-plane-ca.pem"),
            BUREAU_BOOTSTRAP_TOKEN_FILE=str(workdir / "bootstrap-token"),
            BUREAU_USER_DATA_COPIES=[],
            # The VM's ``desk`` user does not exist here: the agent's own fallback applies.
            BUREAU_TOOL_USER="nobody" if os.geteuid() == 0 else None,
        )
        # The agent's own enrollment; the transport only pins the CA the way httpx 0.28 wants it.
        pinned = ssl.create_default_context(cafile=str(config.control_plane_ca_file))
        enroll(config, transport=httpx.HTTPTransport(verify=pinned))
        tls, credentials = ensure_enrolled(config)  # enrolled now: loads the key file
        assert not (workdir / "bootstrap-token").exists(), "enrollment must burn the token file"
        app = create_app(config, credentials=credentials, mutual_tls=True, desk_id=facts.desk_id)
        with serve_asgi(
            app,
            port=port,
            certfile=tls.cert,
            keyfile=tls.key,
            ca_certs=tls.client_ca,
            client_cert_required=True,
        ) as server:
            yield server
