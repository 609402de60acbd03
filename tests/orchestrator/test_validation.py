"""Bad input gets a 422 that names the field and says, in a sentence, what to do."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.fakes.fixtures import FakeProviderServer
from tests.orchestrator.conftest import ControlPlane, desk_body
from tests.orchestrator.helpers import wait_state


def _error(cp: ControlPlane, body: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    with cp.client(cp.admin_token) as client:
        response = client.post("/v1/desks", json=body)
    detail = response.json().get("detail")
    return response.status_code, detail if isinstance(detail, list) else []


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "Bad Name"}, "name", "lowercase letters, digits and hyphens"),
        ({"name": "x" * 64}, "name", "1 to 63 characters"),
        ({"provider": "acme"}, "provider", "one of: anthropic, openai, openrouter, custom"),
        ({"provider": "anthropic"}, "api_key", "an Anthropic key starts with sk-ant-"),
        ({"provider": "openrouter"}, "api_key", "an OpenRouter key starts with sk-or-"),
        ({"api_key": "sk-ant-abcdefghijkl"}, "api_key", "this is an Anthropic key"),
        ({"api_key": "pk-123456789"}, "api_key", "an OpenAI key starts with sk-"),
        ({"api_key": ""}, "api_key", "must not be empty"),
        ({"model": ""}, "model", "model is required"),
        ({"max_tool_calls": 0}, "max_tool_calls", "between 1 and 100"),
        ({"max_tool_calls": 101}, "max_tool_calls", "between 1 and 100"),
        ({"provider": "custom", "api_key": "anything"}, "endpoint", "needs an endpoint"),
        ({"endpoint": "ftp://example.com/v1"}, "endpoint", "full https:// URL"),
        ({"endpoint": "http://example.com/v1/chat"}, "endpoint", "loopback or private"),
        ({"size": "huge"}, "size", "one of: small, medium, large"),
        ({"region": "Not A Region"}, "region", "short lowercase name"),
    ],
)
def test_bad_desk_field_is_named_with_a_sentence(
    module_control_plane: ControlPlane, overrides: dict[str, Any], field: str, message: str
):
    status, detail = _error(module_control_plane, desk_body(**overrides))
    assert status == 422
    assert detail[0]["loc"] == ["body", field]
    assert message in detail[0]["msg"]


def test_missing_field_is_reported_by_name(module_control_plane: ControlPlane):
    body = desk_body()
    del body["model"]
    status, detail = _error(module_control_plane, body)
    assert status == 422
    assert detail == [{"loc": ["body", "model"], "msg": "model is required", "type": "missing"}]


def test_error_bodies_do_not_echo_the_key(module_control_plane: ControlPlane):
    key = "sk-echo-" + secrets.token_hex(16)
    with module_control_plane.client(module_control_plane.admin_token) as client:
        unknown_field = client.post("/v1/desks", json={**desk_body(), "apikey": key})
        wrong_type = client.post("/v1/desks", json={**desk_body(), "api_key": [key]})
    assert unknown_field.status_code == wrong_type.status_code == 422
    assert key not in unknown_field.text and key not in wrong_type.text


def test_http_endpoint_on_loopback_is_allowed_in_development(module_control_plane: ControlPlane):
    body = desk_body(
        f"loop-{secrets.token_hex(3)}",
        provider="custom",
        api_key="local-key",
        endpoint="http://127.0.0.1:11434/v1/chat/completions",
    )
    status, _ = _error(module_control_plane, body)
    assert status == 201


def test_duplicate_desk_name_is_a_conflict(module_control_plane: ControlPlane):
    name = f"twin-{secrets.token_hex(3)}"
    assert _error(module_control_plane, desk_body(name))[0] == 201
    with module_control_plane.client(module_control_plane.admin_token) as client:
        response = client.post("/v1/desks", json=desk_body(name))
    assert response.status_code == 409
    assert response.json()["detail"] == f"you already have a desk named {name}"


def test_bad_cursor_is_a_422(module_control_plane: ControlPlane):
    with module_control_plane.client(module_control_plane.admin_token) as client:
        response = client.get("/v1/desks", params={"after": "%%%"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "after"]


def test_invalid_json_body_is_a_422(module_control_plane: ControlPlane):
    with module_control_plane.client(module_control_plane.admin_token) as client:
        response = client.post(
            "/v1/desks", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "the request body is not valid JSON"


def test_list_pagination_walks_every_desk_once(module_control_plane: ControlPlane):
    cp = module_control_plane
    with cp.client(cp.new_user(f"pager-{secrets.token_hex(3)}")) as client:
        created = {client.post("/v1/desks", json=desk_body(f"p{i}")).json()["id"] for i in range(5)}
        seen: list[str] = []
        after = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"after": after} if after else {})}
            page = client.get("/v1/desks", params=params).json()
            seen += [d["id"] for d in page["data"]]
            if not page["has_more"]:
                break
            after = page["next_cursor"]
    assert sorted(seen) == sorted(created) and len(seen) == 5


class TestLiveKeyCheck:
    """``verify: true`` and the model selector ask the provider's models endpoint."""

    @pytest.fixture
    def cp(self, control_plane: ControlPlane, fake_provider: FakeProviderServer) -> ControlPlane:
        settings = control_plane.runtime.settings
        settings.openai_api_base = fake_provider.openai_base_url
        settings.anthropic_api_base = fake_provider.anthropic_base_url + "/v1"
        settings.openrouter_api_base = fake_provider.openrouter_base_url
        return control_plane

    def test_rejected_key_is_a_422_on_api_key(self, cp: ControlPlane):
        status, detail = _error(cp, desk_body(api_key="sk-invalid-123456", verify=True))
        assert status == 422
        assert detail == [
            {
                "loc": ["body", "api_key"],
                "msg": "the provider rejected this key",
                "type": "value_error",
            }
        ]

    def test_accepted_key_creates_the_desk(self, cp: ControlPlane):
        assert _error(cp, desk_body(verify=True))[0] == 201

    @pytest.mark.parametrize(
        ("provider", "key"),
        [("openai", "sk-abcdef123456"), ("anthropic", "sk-ant-abcdef123456"),
         ("openrouter", "sk-or-abcdef123456")],
    )  # fmt: skip
    def test_model_selector_lists_models(self, cp: ControlPlane, provider: str, key: str):
        with cp.client(cp.admin_token) as client:
            response = client.post(f"/v1/providers/{provider}/models", json={"api_key": key})
        assert response.status_code == 200, response.text
        assert response.json()["data"], "no models listed"

    def test_openrouter_key_is_checked_although_its_model_list_is_public(self, cp: ControlPlane):
        with cp.client(cp.admin_token) as client:
            response = client.post(
                "/v1/providers/openrouter/models", json={"api_key": "sk-or-invalid-123456"}
            )
        assert response.status_code == 422

    def test_model_selector_with_rejected_key(self, cp: ControlPlane):
        with cp.client(cp.admin_token) as client:
            response = client.post("/v1/providers/openai/models", json={"api_key": "sk-invalid-1"})
        assert response.status_code == 422


def test_deleted_desk_frees_its_name(module_control_plane: ControlPlane):
    cp = module_control_plane
    name = f"phoenix-{secrets.token_hex(3)}"
    with cp.client(cp.admin_token) as client:
        first = client.post("/v1/desks", json=desk_body(name)).json()["id"]
        client.delete(f"/v1/desks/{first}")
        wait_state(client, first, "deleted")
        again = client.post("/v1/desks", json=desk_body(name))
    assert again.status_code == 201
