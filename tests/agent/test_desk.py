"""``python -m bureau_agent.desk``: a desk's agent (``bureau-agent run`` without the CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bureau_agent.desk import DEFAULT_CONFIG, UsageError, parse_args


def _desk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bureau_agent.desk", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_config_option_forms() -> None:
    assert parse_args([]) == DEFAULT_CONFIG
    assert parse_args(["--config", "/x/agent.env"]) == Path("/x/agent.env")
    assert parse_args(["--config=/x/agent.env"]) == Path("/x/agent.env")


@pytest.mark.parametrize("args", [["--config"], ["--config="], ["run"], ["--port", "1"]])
def test_other_arguments_are_refused(args: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_args(args)


def test_bad_arguments_exit_2_with_the_usage() -> None:
    result = _desk("--verbose")
    assert result.returncode == 2
    assert "unexpected arguments: --verbose" in result.stderr
    assert "usage: python -m bureau_agent.desk [--config FILE]" in result.stderr


def test_missing_enrollment_settings_fail_clearly_without_loading_the_cli(tmp_path: Path) -> None:
    env_file = tmp_path / "agent.env"
    env_file.write_text(f"BUREAU_AGENT_DATA_DIR={tmp_path / 'data'}\n")
    result = _desk("--config", str(env_file))
    assert result.returncode == 3
    assert "BUREAU_DESK_ID and BUREAU_CONTROL_PLANE_URL are required" in result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert {"bureau_agent.enroll", "fastapi", "uvicorn"} <= imported
    assert not {"typer", "rich", "pygments"} & imported
