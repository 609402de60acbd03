"""The agent distribution: built from ./agent_image when missing, served with its sha256."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from orchestrator.dist import AgentDistStore
from tests.orchestrator.conftest import REPO, ControlPlane


def test_missing_wheel_is_built_from_the_agent_sources(tmp_path: Path):
    store = AgentDistStore(tmp_path / "dist", REPO / "agent_image")
    dist = store.ensure()
    wheel = tmp_path / "dist" / dist.filename
    assert dist.sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read("bureau_agent-0.1.0.dist-info/entry_points.txt").decode()
        metadata = archive.read("bureau_agent-0.1.0.dist-info/METADATA").decode()
    assert "bureau_agent/protocol.py" in names and "bureau_agent/py.typed" in names
    assert "bureau-agent = bureau_agent.cli:app" in entry_points
    assert "License: Apache-2.0" in metadata.splitlines()


def test_same_sources_give_the_same_wheel(tmp_path: Path):
    first = AgentDistStore(tmp_path / "a", REPO / "agent_image").ensure()
    second = AgentDistStore(tmp_path / "b", REPO / "agent_image").ensure()
    assert first.sha256 == second.sha256


@pytest.mark.slow
def test_pip_installs_the_built_wheel(tmp_path: Path):
    dist = AgentDistStore(tmp_path / "dist", REPO / "agent_image").ensure()
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--target", str(target), str(tmp_path / "dist" / dist.filename)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert (target / "bureau_agent" / "protocol.py").is_file()
    record = next(target.glob("bureau_agent-*.dist-info")) / "RECORD"
    assert "bureau_agent/cli.py" in record.read_text()


def test_dist_endpoint_serves_the_wheel_and_refuses_other_paths(
    module_control_plane: ControlPlane,
):
    cp = module_control_plane
    dist = cp.runtime.dist.ensure()
    with cp.client() as anonymous:
        wheel = anonymous.get(f"/v1/agent/dist/{dist.filename}")
        traversal = anonymous.get("/v1/agent/dist/..%2Fbureau.db")
        missing = anonymous.get("/v1/agent/dist/nothing-1.0-py3-none-any.whl")
    assert wheel.status_code == 200
    assert hashlib.sha256(wheel.content).hexdigest() == dist.sha256
    assert traversal.status_code == 404 and missing.status_code == 404
