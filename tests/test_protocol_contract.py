"""The control plane and the agent each keep a copy of the wire models; they must agree."""

from __future__ import annotations

import bureau_agent.protocol as agent_side
import orchestrator.protocol as control_side

MODELS = [
    "ProviderCredentials",
    "EmbeddingsCredentials",
    "EnrollRequest",
    "EnrollResponse",
    "ProviderUpdate",
    "Health",
]


def test_both_sides_speak_the_same_protocol_version() -> None:
    assert agent_side.PROTOCOL_VERSION == control_side.PROTOCOL_VERSION
    assert agent_side.PROTOCOL_MINOR == control_side.PROTOCOL_MINOR


def test_every_wire_model_has_the_same_json_schema_on_both_sides() -> None:
    for name in MODELS:
        agent_schema = getattr(agent_side, name).model_json_schema()
        control_schema = getattr(control_side, name).model_json_schema()
        assert agent_schema == control_schema, name


def test_keys_travel_in_clear_only_in_json_bodies() -> None:
    creds = control_side.ProviderCredentials(
        provider="openai", api_key="sk-test-contract-1234", model="gpt-4o"
    )
    assert "sk-test-contract-1234" not in repr(creds)
    assert "sk-test-contract-1234" not in str(creds.model_dump())
    wire = creds.model_dump_json()
    assert agent_side.ProviderCredentials.model_validate_json(wire).api_key.get_secret_value() == (
        "sk-test-contract-1234"
    )


def test_agent_dns_name_is_identical_on_both_sides() -> None:
    assert agent_side.agent_dns_name("d-1") == control_side.agent_dns_name("d-1")
