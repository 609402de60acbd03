"""cloud-init's own schema accepts what we render and rejects the classic mistakes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cloud_init import render_desk
from tests.cloud_init.desks import REPRESENTATIVE_DESKS, minimal_desk
from tests.cloud_init.schema_tool import SchemaTool, find_schema_tool


@pytest.fixture(scope="module")
def schema_tool() -> SchemaTool:
    tool, reason = find_schema_tool()
    if tool is None:
        pytest.skip(f"cloud-init schema unavailable: {reason}")
    return tool


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "user-data.yaml"
    path.write_text(text)
    return path


def _mutate(text: str, change: Callable[[dict[str, object]], None]) -> str:
    data = yaml.safe_load(text)
    change(data)
    return "#cloud-config\n" + yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize("name", sorted(REPRESENTATIVE_DESKS))
def test_cloud_init_schema_accepts_rendered_user_data(
    schema_tool: SchemaTool, tmp_path: Path, name: str
) -> None:
    result = schema_tool.validate(_write(tmp_path, render_desk(REPRESENTATIVE_DESKS[name]()).text))
    assert result.ok, result.output
    assert "Valid cloud-config" in result.output
    assert "deprecat" not in result.output.lower()


def test_cloud_init_schema_rejects_permissions_as_int(
    schema_tool: SchemaTool, tmp_path: Path
) -> None:
    def octal_as_int(data: dict[str, object]) -> None:
        files = data["write_files"]
        assert isinstance(files, list)
        files[0]["permissions"] = 0o644

    result = schema_tool.validate(
        _write(tmp_path, _mutate(render_desk(minimal_desk()).text, octal_as_int))
    )
    assert not result.ok
    assert "permissions" in result.output


def test_cloud_init_schema_rejects_unknown_key(schema_tool: SchemaTool, tmp_path: Path) -> None:
    def add_unknown(data: dict[str, object]) -> None:
        files = data["write_files"]
        assert isinstance(files, list)
        files[0]["mode"] = "0644"

    result = schema_tool.validate(
        _write(tmp_path, _mutate(render_desk(minimal_desk()).text, add_unknown))
    )
    assert not result.ok
    assert "'mode' was unexpected" in result.output


def test_cloud_init_schema_rejects_missing_header(schema_tool: SchemaTool, tmp_path: Path) -> None:
    text = render_desk(minimal_desk()).text.removeprefix("#cloud-config\n")
    result = schema_tool.validate(_write(tmp_path, text))
    assert not result.ok
    assert "#cloud-config" in result.output
