"""The ``bureau`` CLI against a real control plane: the key comes from stdin, never argv, and
``desk create`` follows the lifecycle until the desk is ready."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.drivers import factory
from tests.helpers.servers import free_port
from tests.helpers.wait import wait_until
from tests.orchestrator.agent_double import AgentDouble, bootstrap_token
from tests.orchestrator.conftest import ControlPlane
from tests.orchestrator.helpers import create_spec


def _env(cp: ControlPlane, token: str) -> dict[str, str]:
    return {"BUREAU_URL": cp.url, "BUREAU_CA": str(cp.ca), "BUREAU_TOKEN": token}


def test_desk_create_reads_the_key_from_stdin_and_waits_until_ready(
    control_plane: ControlPlane, tmp_path: Path
):
    cp = control_plane
    port = free_port()
    cp.driver.agent_url = f"https://127.0.0.1:{port}"
    token = cp.new_user("cli-user")
    done = threading.Event()

    def play_agent() -> None:
        spec = wait_until(lambda: next((c.spec for c in cp.driver.calls if c.spec), None))
        assert spec is not None
        agent = AgentDouble(spec.desk_id, tmp_path / "agent")
        agent.enroll(cp.url, cp.ca, bootstrap_token(create_spec(cp, spec.desk_id)))
        with agent.serve(port):
            done.wait(30)

    helper = threading.Thread(target=play_agent, daemon=True)
    helper.start()
    key = "sk-from-stdin-0123456789"
    result = CliRunner().invoke(
        app,
        ["desk", "create", "clidesk", "--provider", "openai", "--model", "gpt-4o-mini"],
        input=key + "\n",
        env=_env(cp, token),
    )
    done.set()
    helper.join(10)
    assert result.exit_code == 0, result.output
    assert "ready" in result.output
    assert key not in result.output


def test_desk_list_and_events(control_plane: ControlPlane):
    cp = control_plane
    token = cp.new_user("lister")
    runner = CliRunner()
    created = runner.invoke(
        app,
        ["desk", "create", "listed", "--provider", "openai", "--model", "m", "--no-wait"],
        input="sk-abcdefghijklmnop\n",
        env=_env(cp, token),
    )
    assert created.exit_code == 0, created.output
    listed = runner.invoke(app, ["desk", "list"], env=_env(cp, token))
    assert "listed" in listed.output
    desk_id = created.output.split("(")[1].split(")")[0]
    events = runner.invoke(app, ["desk", "events", desk_id], env=_env(cp, token))
    assert "created" in events.output


def test_bad_key_is_reported_with_the_field(control_plane: ControlPlane):
    cp = control_plane
    result = CliRunner().invoke(
        app,
        ["desk", "create", "bad", "--provider", "anthropic", "--model", "m", "--no-wait"],
        input="sk-not-anthropic\n",
        env=_env(cp, cp.admin_token),
    )
    assert result.exit_code == 1
    assert "api_key: an Anthropic key starts with sk-ant-" in result.output


def test_missing_driver_module_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(factory.DRIVER_MODULES, "qemu", "orchestrator.drivers.not_built_yet")
    with pytest.raises(factory.DriverUnavailableError, match="not available in this build"):
        factory.load_driver("qemu", Path("."))
