"""The agent distribution: built from ./agent_image when missing, served with its sha256."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from orchestrator.dist import AgentDistStore
from tests.orchestrator.conftest import REPO, ControlPlane


@pytest.mark.slow
def test_missing_wheel_is_built_from_the_agent_sources(tmp_path: Path):
    store = AgentDistStore(tmp_path / "dist", REPO / "agent_image")
    dist = store.ensure()
    wheel = tmp_path / "dist" / dist.filename
    assert dist.sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()
    with zipfile.ZipFile(wheel) as archive:
        assert "bureau_agent/protocol.py" in archive.namelist()


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
