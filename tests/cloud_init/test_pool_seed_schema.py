"""cloud-init's own schema accepts the user-data of a Hetzner pool server."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud_init.settings import AgentDist
from orchestrator.pool.hcloud_seed import pool_server_user_data
from tests.cloud_init.schema_tool import SchemaTool, find_schema_tool

CA = "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAK\n-----END CERTIFICATE-----\n"


@pytest.fixture(scope="module")
def schema_tool() -> SchemaTool:
    tool, reason = find_schema_tool()
    if tool is None:
        pytest.skip(f"cloud-init schema unavailable: {reason}")
    return tool


def test_cloud_init_schema_accepts_a_pool_servers_user_data(
    schema_tool: SchemaTool, tmp_path: Path
) -> None:
    text = pool_server_user_data(
        slot_id="p0123abcd",
        pool_token="pt_" + "x" * 43,
        control_plane_url="https://bureau.example.com",
        control_plane_ca_pem=CA,
        agent_dist=AgentDist(version="0.1.0", filename="bureau_agent-0.1.0.whl", sha256="0" * 64),
    )
    path = tmp_path / "user-data.yaml"
    path.write_text(text)
    result = schema_tool.validate(path)
    assert result.ok, result.output
    assert "Valid cloud-config" in result.output
    assert "deprecat" not in result.output.lower()
