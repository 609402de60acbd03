"""Desk form checks and the mapping of API errors onto fields, in words people understand."""

from __future__ import annotations

from orchestrator.web.forms import FORM_LEVEL, DeskForm, ProviderFields, explain_api_error

ANTHROPIC_KEY = "sk-ant-api03-abcdefghijklmnop"


def _form(**fields: str) -> DeskForm:
    base = {
        "name": "thesis",
        "provider": "anthropic",
        "api_key": ANTHROPIC_KEY,
        "model": "claude-sonnet-4-5",
        "max_tool_calls": "10",
    }
    base.update(fields)
    return DeskForm.from_form(base)


def test_valid_form_has_no_errors_and_builds_the_api_body() -> None:
    form = _form(longer_context_model="claude-opus-4")
    assert form.check() == {}
    assert form.body() == {
        "name": "thesis",
        "size": "small",
        "provider": "anthropic",
        "api_key": ANTHROPIC_KEY,
        "model": "claude-sonnet-4-5",
        "max_tool_calls": 10,
        "longer_context_model": "claude-opus-4",
    }


def test_wrong_key_prefix_is_reported_on_the_key_field() -> None:
    errors = _form(api_key="sk-proj-abcdefghijkl").check()
    assert errors == {
        "api_key": "Anthropic (Claude) keys start with sk-ant- — check that you "
        "pasted the whole key."
    }


def test_anthropic_key_given_for_openai_names_the_right_provider() -> None:
    errors = _form(provider="openai").check()
    assert "Anthropic key" in errors["api_key"]


def test_name_with_capitals_and_spaces_is_explained() -> None:
    assert "lowercase letters" in _form(name="My Desk").check()["name"]


def test_max_tool_calls_out_of_range_is_explained() -> None:
    assert _form(max_tool_calls="500").check() == {
        "max_tool_calls": "Enter a whole number from 1 to 100."
    }


def test_custom_provider_needs_an_endpoint() -> None:
    assert "endpoint" in _form(provider="custom", api_key="anything").check()


def test_embeddings_reusing_the_main_key_sends_it_twice() -> None:
    fields = ProviderFields.from_form(
        {
            "provider": "openai",
            "api_key": "sk-main-key-123456",
            "model": "gpt-4o-mini",
            "emb_enabled": "on",
            "emb_provider": "openai",
            "emb_key_mode": "reuse",
            "emb_model": "text-embedding-3-small",
        }
    )
    assert fields.check() == {}
    assert fields.provider_body()["embeddings"] == {
        "provider": "openai",
        "api_key": "sk-main-key-123456",
        "model": "text-embedding-3-small",
    }


def test_embeddings_cannot_reuse_a_key_of_another_provider() -> None:
    fields = ProviderFields.from_form(
        {
            "provider": "anthropic",
            "api_key": ANTHROPIC_KEY,
            "model": "m",
            "emb_enabled": "on",
            "emb_provider": "openai",
            "emb_key_mode": "reuse",
            "emb_model": "text-embedding-3-small",
        }
    )
    assert "another provider" in fields.check()["emb_api_key"]


def test_api_422_details_map_onto_form_fields() -> None:
    detail = [
        {
            "loc": ["body", "api_key"],
            "msg": "an Anthropic key starts with sk-ant-",
            "type": "value_error",
        },
        {"loc": ["body", "embeddings", "model"], "msg": "Field required", "type": "missing"},
        {
            "loc": ["body", "max_tool_calls"],
            "msg": "x",
            "type": "less_than_equal",
            "ctx": {"le": 100},
        },
    ]
    assert explain_api_error(422, detail) == {
        "api_key": "An Anthropic key starts with sk-ant-.",
        "emb_model": "Please fill this in.",
        "max_tool_calls": "Enter a number of at most 100.",
    }


def test_unknown_location_goes_to_the_form_level() -> None:
    detail = [{"loc": ["body", "something"], "msg": "bad", "type": "value_error"}]
    assert explain_api_error(422, detail) == {FORM_LEVEL: "Bad."}


def test_plain_error_mentioning_the_key_lands_on_the_key_field() -> None:
    assert explain_api_error(400, "the provider rejected this key") == {
        "api_key": "the provider rejected this key"
    }


def test_api_messages_never_repeat_a_submitted_key() -> None:
    key = "sk-ant-api03-secretsecretsecret"
    detail = [{"loc": ["body", "api_key"], "msg": f"bad key {key}", "type": "value_error"}]
    explained = explain_api_error(422, detail, (key,))
    assert key not in explained["api_key"]
    assert "[your key]" in explained["api_key"]


def test_unreachable_desk_is_explained_as_try_again_later() -> None:
    explained = explain_api_error(502, "the agent could not be reached: ConnectError")
    assert list(explained) == [FORM_LEVEL]
    assert explained[FORM_LEVEL].startswith("Your desk or your provider is not answering")
