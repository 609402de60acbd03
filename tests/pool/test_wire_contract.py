"""The control plane and the pooled agent keep a copy of the resume models each; they agree."""

from __future__ import annotations

import bureau_agent.pool.wire as agent_side
import orchestrator.pool.wire as control_side


def test_both_sides_speak_the_same_pool_protocol() -> None:
    assert agent_side.POOL_PROTOCOL == control_side.POOL_PROTOCOL


def test_resume_models_have_the_same_json_schema_on_both_sides() -> None:
    for name in ("ResumeRequest", "ResumeResponse", "StepTiming"):
        agent_schema = getattr(agent_side, name).model_json_schema()
        control_schema = getattr(control_side, name).model_json_schema()
        assert agent_schema == control_schema, name
