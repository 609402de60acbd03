"""Serve the REAL bureau-agent app for a desk the scripted driver "created": enroll with a real
CSR (AgentDouble), then run the agent's ASGI app under mutual TLS with the signed certificate."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from bureau_agent.app import create_app
from bureau_agent.config import load_config
from bureau_agent.credentials import Credentials, from_wire
from bureau_agent.protocol import EnrollResponse
from orchestrator.drivers.base import DeskSpec
from tests.helpers.servers import RunningServer, serve_asgi
from tests.orchestrator.agent_double import AgentDouble, bootstrap_token


@contextlib.contextmanager
def serve_real_agent(
    cp_url: str, cp_ca: Path, spec: DeskSpec, port: int, workdir: Path
) -> Iterator[RunningServer]:
    double = AgentDouble(spec.desk_id, workdir)
    response = double.enroll(cp_url, cp_ca, bootstrap_token(spec))
    assert response.status_code == 200, response.text
    answer = EnrollResponse.model_validate_json(response.content)  # parsed as the agent does
    cert, key, desk_ca = double._files()
    workdir.chmod(0o755)  # tools run as another user (nobody under root)
    home = workdir / "home"
    home.mkdir(mode=0o777, exist_ok=True)
    home.chmod(0o777)
    config = load_config(
        BUREAU_AGENT_DATA_DIR=str(workdir / "data"),
        BUREAU_WORKSPACE_DIR=str(home),
        BUREAU_DESK_ID=spec.desk_id,
    )
    credentials = Credentials(
        provider=from_wire(answer.provider) if answer.provider else None,
        embeddings=answer.embeddings,
    )
    app = create_app(config, credentials=credentials, mutual_tls=True, desk_id=spec.desk_id)
    with serve_asgi(
        app, port=port, certfile=cert, keyfile=key, ca_certs=desk_ca, client_cert_required=True
    ) as server:
        yield server
