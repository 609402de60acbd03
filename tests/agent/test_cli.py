"""The ``bureau-agent`` command line: version, and refusing plain HTTP off loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from bureau_agent.cli import app
from bureau_agent.version import __version__


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"bureau-agent {__version__}"


def test_serve_refuses_plain_http_off_loopback(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "refusing plain HTTP" in result.output


def test_run_without_enrollment_settings_fails_clearly(tmp_path: Path) -> None:
    env_file = tmp_path / "agent.env"
    env_file.write_text(f"BUREAU_AGENT_DATA_DIR={tmp_path / 'data'}\n")
    result = CliRunner().invoke(app, ["run", "--config", str(env_file)])
    assert result.exit_code == 3
    assert "BUREAU_DESK_ID and BUREAU_CONTROL_PLANE_URL are required" in result.output


def test_the_agent_starts_without_httpx_command_line_extras() -> None:
    # httpx's own CLI would import rich and pygments (~0.5 s of a desk's boot under TCG).
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bureau_agent", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == f"bureau-agent {__version__}"
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert {"bureau_agent.cli", "httpx"} <= imported
    assert not {"rich", "pygments"} & imported
