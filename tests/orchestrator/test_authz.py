"""Who may do what: every desk endpoint called by the owner, another user, an admin, no token and
a bad token. Another user's desk does not exist for you (404, not 403)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import httpx

from tests.orchestrator.conftest import ControlPlane, desk_body
from tests.orchestrator.helpers import wait_state

ACTORS = ("owner", "other", "admin", "none", "bad")

# endpoint -> expected status per actor (desk is booting: no agent yet).
MATRIX: dict[str, dict[str, int]] = {
    "GET desk": {"owner": 200, "other": 404, "admin": 200, "none": 401, "bad": 401},
    "PATCH desk": {"owner": 200, "other": 404, "admin": 404, "none": 401, "bad": 401},
    "DELETE desk": {"owner": 202, "other": 404, "admin": 202, "none": 401, "bad": 401},
    "POST start": {"owner": 409, "other": 404, "admin": 409, "none": 401, "bad": 401},
    "POST stop": {"owner": 202, "other": 404, "admin": 202, "none": 401, "bad": 401},
    "POST restart": {"owner": 409, "other": 404, "admin": 409, "none": 401, "bad": 401},
    "PUT provider": {"owner": 200, "other": 404, "admin": 404, "none": 401, "bad": 401},
    "GET events": {"owner": 200, "other": 404, "admin": 200, "none": 401, "bad": 401},
    "GET agent proxy": {"owner": 409, "other": 404, "admin": 404, "none": 401, "bad": 401},
    "POST agent proxy": {"owner": 409, "other": 404, "admin": 404, "none": 401, "bad": 401},
}

Call = Callable[[httpx.Client, str], httpx.Response]
CALLS: dict[str, Call] = {
    "GET desk": lambda c, d: c.get(f"/v1/desks/{d}"),
    "PATCH desk": lambda c, d: c.patch(f"/v1/desks/{d}", json={"model": "gpt-4o"}),
    "DELETE desk": lambda c, d: c.delete(f"/v1/desks/{d}"),
    "POST start": lambda c, d: c.post(f"/v1/desks/{d}/start"),
    "POST stop": lambda c, d: c.post(f"/v1/desks/{d}/stop"),
    "POST restart": lambda c, d: c.post(f"/v1/desks/{d}/restart"),
    "PUT provider": lambda c, d: c.put(
        f"/v1/desks/{d}/provider", json={"api_key": "sk-" + secrets.token_hex(10)}
    ),
    "GET events": lambda c, d: c.get(f"/v1/desks/{d}/events", params={"follow": "false"}),
    "GET agent proxy": lambda c, d: c.get(f"/v1/desks/{d}/agent/v1/assistants"),
    "POST agent proxy": lambda c, d: c.post(f"/v1/desks/{d}/agent/v1/threads", json={}),
}
SUCCESS = range(200, 300)


def test_every_desk_endpoint_answers_each_actor_as_expected(module_control_plane: ControlPlane):
    cp = module_control_plane
    suffix = secrets.token_hex(3)
    tokens = {
        "owner": cp.new_user(f"owner-{suffix}"),
        "other": cp.new_user(f"other-{suffix}"),
        "admin": cp.new_user(f"admin-{suffix}", is_admin=True),
        "none": None,
        "bad": "bur_" + secrets.token_urlsafe(32),
    }
    clients = {actor: cp.client(token) for actor, token in tokens.items()}

    def fresh_desk() -> str:
        desk_id = str(
            clients["owner"]
            .post("/v1/desks", json=desk_body(f"d{secrets.token_hex(4)}"))
            .json()["id"]
        )
        wait_state(clients["owner"], desk_id, "booting")
        return desk_id

    seen: dict[str, dict[str, int]] = {}
    for endpoint, call in CALLS.items():
        desk_id = fresh_desk()
        seen[endpoint] = {}
        for actor in ("none", "bad", "other", "admin", "owner"):
            if seen[endpoint].get("admin") in SUCCESS and actor == "owner":
                desk_id = fresh_desk()  # the admin already changed that desk's state
            seen[endpoint][actor] = call(clients[actor], desk_id).status_code
    for client in clients.values():
        client.close()
    assert seen == MATRIX


def test_users_and_tokens_endpoints_check_roles(module_control_plane: ControlPlane):
    cp = module_control_plane
    user = cp.new_user(f"plain-{secrets.token_hex(3)}")
    with cp.client(user) as client, cp.client() as anonymous:
        assert client.post("/v1/users", json={"name": "nope"}).status_code == 403
        assert anonymous.post("/v1/users", json={"name": "nope"}).status_code == 401
        assert client.get("/v1/me").json()["is_admin"] is False
        created = client.post("/v1/tokens", json={"name": "laptop"})
        assert created.status_code == 201
    with cp.client(created.json()["token"]) as second:
        assert second.get("/v1/me").status_code == 200


def test_desk_list_shows_only_your_desks(module_control_plane: ControlPlane):
    cp = module_control_plane
    mine, theirs = (
        cp.new_user(f"m-{secrets.token_hex(3)}"),
        cp.new_user(f"t-{secrets.token_hex(3)}"),
    )
    with cp.client(mine) as me, cp.client(theirs) as them:
        desk_id = me.post("/v1/desks", json=desk_body("mine")).json()["id"]
        them.post("/v1/desks", json=desk_body("theirs"))
        assert [d["id"] for d in me.get("/v1/desks").json()["data"]] == [desk_id]
        assert all(d["name"] == "theirs" for d in them.get("/v1/desks").json()["data"])
