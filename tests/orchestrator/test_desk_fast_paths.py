"""The desks API's one-hop paths (``Caller``: token lookup and the operation together) still
check the token on every request, and a provisioning job that ends in one transaction keeps the
events in order: the driver's progress before ``booting``, the job done with the desk."""

from __future__ import annotations

import json
import secrets

from sqlmodel import col, delete, select

from orchestrator.models import ApiToken, Desk, Job
from tests.orchestrator.conftest import ControlPlane, desk_body
from tests.orchestrator.helpers import wait_state


def test_a_removed_token_is_refused_on_its_next_desk_read_and_write(
    module_control_plane: ControlPlane,
):
    cp = module_control_plane
    token = cp.new_user(f"gone-{secrets.token_hex(3)}")
    with cp.client(token) as client:
        desk_id = client.post("/v1/desks", json=desk_body("gone")).json()["id"]
        assert client.get(f"/v1/desks/{desk_id}").status_code == 200
        with cp.runtime.db.session() as session:
            session.execute(delete(ApiToken).where(col(ApiToken.user_id) == _owner(cp, desk_id)))
            session.commit()
        read = client.get(f"/v1/desks/{desk_id}")
        listed = client.get("/v1/desks")
        deleted = client.delete(f"/v1/desks/{desk_id}")
    assert [read.status_code, listed.status_code, deleted.status_code] == [401, 401, 401]
    assert read.json()["detail"] == "this token is not valid"
    assert read.headers["www-authenticate"] == "Bearer"


def test_provisioning_stores_the_drivers_progress_before_booting_and_ends_its_job(
    module_control_plane: ControlPlane,
):
    cp = module_control_plane
    token = cp.new_user(f"order-{secrets.token_hex(3)}")
    with cp.client(token) as client:
        desk_id = client.post("/v1/desks", json=desk_body("order")).json()["id"]
        wait_state(client, desk_id, "booting")
        stream = client.get(f"/v1/desks/{desk_id}/events", params={"follow": "false"})
    events = [
        json.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: ")
    ]
    assert [(e["kind"], e["to_state"], e["message"]) for e in events[:4]] == [
        ("transition", "pending", "created"),
        ("transition", "provisioning", "provisioning"),
        ("progress", "provisioning", "scripted machine created"),
        ("transition", "booting", "the machine is up; waiting for the agent"),
    ]
    with cp.runtime.db.read_session() as session:
        job = session.exec(select(Job).where(Job.desk_id == desk_id, Job.kind == "provision")).one()
    assert (job.state, job.attempts, job.error) == ("done", 1, None)


def _owner(cp: ControlPlane, desk_id: str) -> str:
    with cp.runtime.db.read_session() as session:
        desk = session.get(Desk, desk_id)
        assert desk is not None
        return desk.owner_id
