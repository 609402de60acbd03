"""The agent proxy: forwards method, path, query and body; streams both ways without buffering;
reaches only the agent whose certificate names the desk."""

from __future__ import annotations

import queue
import ssl
import threading
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from orchestrator.models import Desk
from orchestrator.protocol import agent_dns_name
from tests.orchestrator.conftest import ControlPlane, desk_body
from tests.orchestrator.helpers import ready_desk, wait_state


def test_proxy_forwards_method_path_query_and_body(control_plane: ControlPlane, tmp_path: Path):
    cp = control_plane
    with cp.client(cp.new_user("pat")) as client, ready_desk(cp, client, tmp_path) as (desk_id, _):
        response = client.post(
            f"/v1/desks/{desk_id}/agent/v1/echo", params={"q": "1"}, content=b"hello agent"
        )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "method": "POST",
        "path": "/v1/echo",
        "query": {"q": "1"},
        "body": "hello agent",
        "authorization": None,  # the Bureau token stays at the control plane
    }


def test_proxy_streams_responses_without_buffering(control_plane: ControlPlane, tmp_path: Path):
    cp = control_plane
    lines: queue.Queue[str] = queue.Queue()
    with (
        cp.client(cp.new_user("sam")) as client,
        ready_desk(cp, client, tmp_path) as (desk_id, agent),
    ):

        def read() -> None:
            with client.stream("GET", f"/v1/desks/{desk_id}/agent/v1/stream") as response:
                for line in response.iter_lines():
                    if line:
                        lines.put(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        first = lines.get(timeout=10)  # arrives while the agent still holds the second event
        assert lines.empty()
        agent.stream_gate.set()
        second = lines.get(timeout=10)
        reader.join(timeout=10)
    assert (first, second) == ("data: first", "data: second")


def test_proxy_streams_large_uploads(control_plane: ControlPlane, tmp_path: Path):
    cp = control_plane
    size = 8 * 1024 * 1024

    def chunks():
        for _ in range(size // 65536):
            yield b"x" * 65536

    with cp.client(cp.new_user("upl")) as client, ready_desk(cp, client, tmp_path) as (desk_id, _):
        response = client.post(f"/v1/desks/{desk_id}/agent/v1/upload", content=chunks())
    assert response.json() == {"received": size}


def test_proxy_refuses_an_agent_with_another_desks_certificate(
    control_plane: ControlPlane, tmp_path: Path
):
    cp = control_plane
    with cp.client(cp.new_user("eve")) as client, ready_desk(cp, client, tmp_path) as (real_id, _):
        impostor_id = client.post("/v1/desks", json=desk_body("impostor")).json()["id"]
        wait_state(client, impostor_id, "booting")
        real = client.get(f"/v1/desks/{real_id}").json()
        with Session(cp.runtime.db.write_engine) as session:  # point it at the other agent
            desk = session.get(Desk, impostor_id)
            assert desk is not None
            desk.state, desk.agent_url = "ready", real["agent_url"]
            session.add(desk)
            session.commit()
        response = client.get(f"/v1/desks/{impostor_id}/agent/v1/echo")
    assert response.status_code == 502
    assert "could not be reached" in response.json()["error"]["message"]


def _health(url: str, desk_id: str, context: ssl.SSLContext) -> httpx.Response:
    with httpx.Client(verify=context) as client:
        return client.get(url, extensions={"sni_hostname": agent_dns_name(desk_id)})


def test_agent_is_reachable_only_with_the_control_planes_client_certificate(
    control_plane: ControlPlane, tmp_path: Path
):
    cp = control_plane
    with cp.client(cp.new_user("cli")) as client, ready_desk(cp, client, tmp_path) as (desk_id, _):
        url = client.get(f"/v1/desks/{desk_id}").json()["agent_url"] + "/desk/v1/health"
        no_client_cert = ssl.create_default_context(cafile=str(cp.runtime.pki.paths.desk_ca))
        with pytest.raises(httpx.HTTPError):
            _health(url, desk_id, no_client_cert)
        answer = _health(url, desk_id, cp.runtime.pki.agent_client_context())
    assert answer.json()["desk_id"] == desk_id
