"""Your API tokens: list them (never their values), revoke one and it stops working at once,
never revoke your last one, never see or touch another user's."""

from __future__ import annotations

import secrets

from typer.testing import CliRunner

from orchestrator.cli import app
from tests.orchestrator.conftest import ControlPlane


def test_token_list_shows_names_and_marks_the_current_token_without_values(
    module_control_plane: ControlPlane,
):
    cp = module_control_plane
    first = cp.new_user(f"lister-{secrets.token_hex(3)}")
    with cp.client(first) as client:
        second = client.post("/v1/tokens", json={"name": "laptop"}).json()
        listed = client.get("/v1/tokens")
    assert listed.status_code == 200
    rows = listed.json()["data"]
    assert [row["name"] for row in rows][-1] == "laptop"
    assert [row["current"] for row in rows] == [True, False]
    assert first not in listed.text and second["token"] not in listed.text


def test_a_revoked_token_is_refused_on_its_next_request(module_control_plane: ControlPlane):
    cp = module_control_plane
    token = cp.new_user(f"revoker-{secrets.token_hex(3)}")
    with cp.client(token) as client:
        spare = client.post("/v1/tokens", json={"name": "spare"}).json()
    with cp.client(spare["token"]) as spare_client:
        assert spare_client.get("/v1/me").status_code == 200
        with cp.client(token) as client:
            assert client.delete(f"/v1/tokens/{spare['id']}").status_code == 204
        refused = spare_client.get("/v1/me")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "this token is not valid"


def test_revoking_your_only_token_is_refused_with_what_to_do(module_control_plane: ControlPlane):
    cp = module_control_plane
    token = cp.new_user(f"only-{secrets.token_hex(3)}")
    with cp.client(token) as client:
        (only,) = client.get("/v1/tokens").json()["data"]
        refused = client.delete(f"/v1/tokens/{only['id']}")
        assert client.get("/v1/me").status_code == 200
    assert refused.status_code == 409
    assert "create another one first" in refused.json()["detail"]


def test_another_users_token_does_not_exist_for_you(module_control_plane: ControlPlane):
    cp = module_control_plane
    mine = cp.new_user(f"mine-{secrets.token_hex(3)}")
    theirs = cp.new_user(f"theirs-{secrets.token_hex(3)}")
    with cp.client(theirs) as them:
        their_spare = them.post("/v1/tokens", json={"name": "spare"}).json()
    with cp.client(mine) as me:
        answer = me.delete(f"/v1/tokens/{their_spare['id']}")
        names = [row["name"] for row in me.get("/v1/tokens").json()["data"]]
    assert answer.status_code == 404
    assert "spare" not in names
    with cp.client(their_spare["token"]) as still:
        assert still.get("/v1/me").status_code == 200


def test_token_endpoints_require_a_valid_token(module_control_plane: ControlPlane):
    cp = module_control_plane
    with cp.client() as anonymous, cp.client("bur_" + secrets.token_urlsafe(32)) as bad:
        assert anonymous.get("/v1/tokens").status_code == 401
        assert bad.delete("/v1/tokens/t_nothing").status_code == 401


def test_cli_lists_and_revokes_tokens(module_control_plane: ControlPlane):
    cp = module_control_plane
    token = cp.new_user(f"cli-{secrets.token_hex(3)}")
    with cp.client(token) as client:
        spare = client.post("/v1/tokens", json={"name": "ci-runner"}).json()
    env = {"BUREAU_URL": cp.url, "BUREAU_CA": str(cp.ca), "BUREAU_TOKEN": token}
    runner = CliRunner()
    listed = runner.invoke(app, ["token", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "ci-runner" in listed.output and spare["id"] in listed.output
    revoked = runner.invoke(app, ["token", "revoke", spare["id"]], env=env)
    assert revoked.exit_code == 0, revoked.output
    again = runner.invoke(app, ["token", "revoke", spare["id"]], env=env)
    assert again.exit_code == 1
    assert "error 404" in again.output
