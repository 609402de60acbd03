"""The desk lifecycle through the HTTP API, with the scripted driver and an agent double that
enrolls for real (CSR, signed certificate, mutual-TLS health check)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.drivers.base import PermanentDriverError, TransientDriverError
from tests.helpers.servers import free_port
from tests.helpers.wait import wait_until
from tests.orchestrator.agent_double import (
    AgentDouble,
    bootstrap_token,
    verify_agent_certificate,
)
from tests.orchestrator.conftest import ControlPlane, desk_body
from tests.orchestrator.helpers import create_spec, transitions, wait_state


def test_desk_becomes_ready_after_the_agent_enrolls(control_plane: ControlPlane, tmp_path: Path):
    cp = control_plane
    agent_port = free_port()
    cp.driver.agent_url = f"https://127.0.0.1:{agent_port}"
    body = desk_body("first")
    with cp.client(cp.new_user("alice")) as client:
        created = client.post("/v1/desks", json=body)
        assert created.status_code == 201, created.text
        desk_id = created.json()["id"]
        wait_state(client, desk_id, "booting")
        agent = AgentDouble(desk_id, tmp_path / "agent")
        enrolled = agent.enroll(cp.url, cp.ca, bootstrap_token(create_spec(cp, desk_id)))
        assert enrolled.status_code == 200, enrolled.text
        assert agent.enrolled is not None and agent.enrolled.provider is not None
        assert agent.enrolled.provider.api_key.get_secret_value() == body["api_key"]
        verify_agent_certificate(agent.enrolled, desk_id, cp.runtime.pki.desk_ca_pem)
        with agent.serve(agent_port):
            desk = wait_state(client, desk_id, "ready")
        assert desk["key_hint"] == f"openai …{body['api_key'][-4:]}"
        assert transitions(client, desk_id) == [
            "pending", "provisioning", "booting", "enrolling", "ready",
        ]  # fmt: skip


def test_bootstrap_token_works_only_once(control_plane: ControlPlane, tmp_path: Path):
    cp = control_plane
    with cp.client(cp.new_user("bob")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        wait_state(client, desk_id, "booting")
        token = bootstrap_token(create_spec(cp, desk_id))
        first = AgentDouble(desk_id, tmp_path / "a1").enroll(cp.url, cp.ca, token)
        second = AgentDouble(desk_id, tmp_path / "a2").enroll(cp.url, cp.ca, token)
    assert first.status_code == 200
    assert second.status_code == 401
    assert "invalid, used or expired" in second.json()["detail"]


def test_enrollment_without_escrowed_key_waits_for_the_key(
    control_plane: ControlPlane, tmp_path: Path
):
    cp = control_plane
    agent_port = free_port()
    cp.driver.agent_url = f"https://127.0.0.1:{agent_port}"
    with cp.client(cp.new_user("carol")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        wait_state(client, desk_id, "booting")
        cp.runtime.escrow.discard(desk_id)  # what a control-plane restart does
        agent = AgentDouble(desk_id, tmp_path / "agent")
        agent.status = "awaiting_key"
        response = agent.enroll(cp.url, cp.ca, bootstrap_token(create_spec(cp, desk_id)))
        assert response.status_code == 200
        assert agent.enrolled is not None and agent.enrolled.provider is None
        wait_state(client, desk_id, "awaiting_key")
        with agent.serve(agent_port):
            new_key = "sk-new-" + "k" * 20
            put = client.put(f"/v1/desks/{desk_id}/provider", json={"api_key": new_key})
            assert put.status_code == 200, put.text
            assert put.json()["state"] == "ready"
        assert agent.provider_updates[-1].provider.api_key.get_secret_value() == new_key


def test_stop_then_start_brings_the_desk_back(control_plane: ControlPlane, tmp_path: Path):
    cp = control_plane
    agent_port = free_port()
    cp.driver.agent_url = f"https://127.0.0.1:{agent_port}"
    with cp.client(cp.new_user("dave")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        wait_state(client, desk_id, "booting")
        agent = AgentDouble(desk_id, tmp_path / "agent")
        agent.enroll(cp.url, cp.ca, bootstrap_token(create_spec(cp, desk_id)))
        with agent.serve(agent_port):
            wait_state(client, desk_id, "ready")
            assert client.post(f"/v1/desks/{desk_id}/stop").status_code == 202
            wait_state(client, desk_id, "stopped")
            assert client.post(f"/v1/desks/{desk_id}/start").status_code == 202
            wait_state(client, desk_id, "ready")
    assert cp.driver.ops(desk_id) == ["create", "stop", "start"]


def test_illegal_transition_answers_409_with_the_state(control_plane: ControlPlane):
    cp = control_plane
    with cp.client(cp.new_user("erin")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        wait_state(client, desk_id, "booting")
        response = client.post(f"/v1/desks/{desk_id}/start")
    assert response.status_code == 409
    assert response.json() == {"detail": "cannot start a desk that is booting", "state": "booting"}


def test_delete_removes_the_machine(control_plane: ControlPlane):
    cp = control_plane
    with cp.client(cp.new_user("fay")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        wait_state(client, desk_id, "booting")
        assert client.delete(f"/v1/desks/{desk_id}").status_code == 202
        wait_state(client, desk_id, "deleted")
        listed = client.get("/v1/desks").json()["data"]
    assert desk_id not in cp.driver.machines
    assert listed == []


def test_delete_during_provisioning_cancels_it(control_plane: ControlPlane):
    cp = control_plane
    cp.driver.hold("create")
    with cp.client(cp.new_user("gus")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        wait_state(client, desk_id, "provisioning")
        create_spec(cp, desk_id)
        assert client.delete(f"/v1/desks/{desk_id}").status_code == 202
        wait_state(client, desk_id, "deleted")
    cp.driver.release("create")
    assert cp.driver.ops(desk_id) == ["create", "destroy"]
    assert desk_id not in cp.driver.machines


def test_transient_driver_errors_are_retried(control_plane: ControlPlane):
    cp = control_plane
    cp.driver.fail_next("create", TransientDriverError("busy"), times=2)
    with cp.client(cp.new_user("hal")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        wait_state(client, desk_id, "booting")
    assert cp.driver.ops(desk_id) == ["create", "create", "create"]


def test_permanent_driver_error_fails_the_desk_with_its_reason(control_plane: ControlPlane):
    cp = control_plane
    cp.driver.fail_next("create", PermanentDriverError("no image: run make image"))
    with cp.client(cp.new_user("ivy")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        desk = wait_state(client, desk_id, "failed")
        assert "no image: run make image" in desk["reason"]
        retry = client.post(f"/v1/desks/{desk_id}/start")
        assert retry.status_code == 202
        wait_state(client, desk_id, "booting")


def test_key_supplied_while_failed_reaches_the_agent_on_start(
    control_plane: ControlPlane, tmp_path: Path
):
    cp = control_plane
    agent_port = free_port()
    cp.driver.agent_url = f"https://127.0.0.1:{agent_port}"
    with cp.client(cp.new_user("phoenix")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        wait_state(client, desk_id, "booting")
        agent = AgentDouble(desk_id, tmp_path / "agent")
        agent.enroll(cp.url, cp.ca, bootstrap_token(create_spec(cp, desk_id)))
        with agent.serve(agent_port):
            wait_state(client, desk_id, "ready")
            cp.driver.fail_next("stop", PermanentDriverError("stuck"))
            client.post(f"/v1/desks/{desk_id}/stop")
            wait_state(client, desk_id, "failed")
            new_key = "sk-while-failed-" + "z" * 12
            put = client.put(f"/v1/desks/{desk_id}/provider", json={"api_key": new_key})
            assert put.status_code == 200, put.text
            assert client.post(f"/v1/desks/{desk_id}/start").status_code == 202
            wait_state(client, desk_id, "ready")
            wait_until(lambda: agent.provider_updates, message="key pushed")
    assert agent.provider_updates[-1].provider.api_key.get_secret_value() == new_key
