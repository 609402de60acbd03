"""The thin Automation API layer: error translation, event lines, workspace settings.

The Pulumi CLI cannot run here, so ``up``/``destroy`` themselves are exercised through the fake
engine (test_driver.py); what this layer decides on its own is tested directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi.automation import events
from pydantic import SecretStr

from orchestrator.drivers.base import PermanentDriverError, TransientDriverError
from orchestrator.drivers.pulumi_engine import (
    AutomationEngine,
    PendingOperationsError,
    classify_failure,
    describe_event,
    output_line_filter,
)

SERVER_URN = "urn:pulumi:desk-dsk_1::bureau-desks::hcloud:index/server:Server::server"


def _engine(tmp_path: Path) -> AutomationEngine:
    return AutomationEngine(
        backend_url=f"file://{tmp_path / 'state'}",
        passphrase=SecretStr("correct horse battery staple"),
        work_dir=tmp_path / "work",
        plugin_version="1.43.3",
        env={"HCLOUD_TOKEN": "tok"},
    )


def _step(op: events.OpType) -> events.StepEventMetadata:
    return events.StepEventMetadata(
        op=op, urn=SERVER_URN, type="hcloud:index/server:Server", provider=""
    )


@pytest.mark.parametrize(
    "transcript",
    [
        "error: hcloud: rate limit exceeded (rate_limit_exceeded, 429)",
        "error: 503 Service Unavailable",
        "error: server type cx23 is unavailable in this location (resource_unavailable)",
        "error: Post https://api.hetzner.cloud/v1/servers: dial tcp: i/o timeout",
    ],
)
def test_retryable_failures_are_transient(transcript: str) -> None:
    error = classify_failure("up", transcript)
    assert isinstance(error, TransientDriverError)
    assert not isinstance(error, PendingOperationsError)


def test_rate_limit_gets_a_retry_after() -> None:
    error = classify_failure("up", "error: rate_limit_exceeded (429)")
    assert isinstance(error, TransientDriverError)
    assert error.retry_after == 60.0


@pytest.mark.parametrize(
    "transcript",
    [
        "error: image debian-99 not found (invalid_input)",
        "error: server limit exceeded (resource_limit_exceeded)",
        "error: unable to authenticate (unauthorized)",
    ],
)
def test_hopeless_failures_are_permanent(transcript: str) -> None:
    assert isinstance(classify_failure("up", transcript), PermanentDriverError)


def test_pending_operations_are_recognised() -> None:
    transcript = (
        "error: the current deployment has 1 resource(s) with pending operations:\n"
        f"  * {SERVER_URN}, interrupted while creating"
    )
    assert isinstance(classify_failure("up", transcript), PendingOperationsError)


def test_concurrent_update_is_transient() -> None:
    error = classify_failure("up", "error: [409] Conflict: Another update is currently in progress")
    assert isinstance(error, TransientDriverError)


def test_failure_message_keeps_the_end_of_the_transcript() -> None:
    transcript = "\n".join(f"line {n}" for n in range(100)) + "\nerror: invalid_input: bad image"
    message = str(classify_failure("up", transcript))
    assert message.endswith("error: invalid_input: bad image")
    assert "line 3 " not in message


def test_resource_step_events_become_short_lines() -> None:
    pre = events.EngineEvent(
        sequence=1,
        timestamp=0,
        resource_pre_event=events.ResourcePreEvent(_step(events.OpType.CREATE)),
    )
    done = events.EngineEvent(
        sequence=2,
        timestamp=0,
        res_outputs_event=events.ResOutputsEvent(_step(events.OpType.CREATE)),
    )
    assert describe_event(pre) == "create server server: started"
    assert describe_event(done) == "create server server: done"


def test_unchanged_resources_are_not_reported() -> None:
    same = events.EngineEvent(
        sequence=1,
        timestamp=0,
        resource_pre_event=events.ResourcePreEvent(_step(events.OpType.SAME)),
    )
    assert describe_event(same) is None


def test_error_diagnostics_are_reported() -> None:
    event = events.EngineEvent(
        sequence=3,
        timestamp=0,
        diagnostic_event=events.DiagnosticEvent(
            message="hcloud:index/server:Server  error:\n  invalid_input",
            color="never",
            severity="error",
        ),
    )
    assert describe_event(event) == "error: hcloud:index/server:Server error: invalid_input"


def test_info_diagnostics_are_not_reported() -> None:
    event = events.EngineEvent(
        sequence=3,
        timestamp=0,
        diagnostic_event=events.DiagnosticEvent(message="chatter", color="never", severity="info"),
    )
    assert describe_event(event) is None


def test_summary_counts_changes() -> None:
    event = events.EngineEvent(
        sequence=9,
        timestamp=0,
        summary_event=events.SummaryEvent(
            maybe_corrupt=False,
            duration_seconds=42,
            resource_changes={events.OpType.CREATE: 4, events.OpType.SAME: 1},
            policy_packs={},
        ),
    )
    assert describe_event(event) == "pulumi finished in 42s (create 4)"


def test_only_error_and_warning_output_lines_are_forwarded() -> None:
    lines: list[str] = []
    forward = output_line_filter(lines.append)
    for line in ("Updating (desk-x):", "   + server creating (3s)", "", "  error: quota reached"):
        forward(line)
    assert lines == ["error: quota reached"]


def test_workspace_uses_the_project_backend_and_passphrase_provider(tmp_path: Path) -> None:
    settings = _engine(tmp_path).workspace_settings()
    assert settings["secrets_provider"] == "passphrase"
    assert settings["work_dir"] == str(tmp_path / "work")
    assert settings["project_settings"].name == "bureau-desks"
    assert settings["project_settings"].backend.url == f"file://{tmp_path / 'state'}"


def test_cli_environment_carries_passphrase_and_token(tmp_path: Path) -> None:
    env = _engine(tmp_path).environment()
    assert env["PULUMI_CONFIG_PASSPHRASE"] == "correct horse battery staple"
    assert env["HCLOUD_TOKEN"] == "tok"
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "true"


def test_engine_repr_does_not_show_the_passphrase(tmp_path: Path) -> None:
    assert "correct horse" not in repr(_engine(tmp_path))


def test_missing_cli_is_a_permanent_error_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PermanentDriverError, match="Pulumi CLI is not installed"):
        _engine(tmp_path).prepare()
