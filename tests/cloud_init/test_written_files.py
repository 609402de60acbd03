"""The files the cloud-config writes, checked by the tools that will read them in the VM."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cloud_init import DeskBootSettings, render_desk
from tests.cloud_init.desks import hetzner_desk, minimal_desk

DESKS = [minimal_desk, hetzner_desk]


def _write(settings: DeskBootSettings, prefix: str, target: Path) -> list[Path]:
    doc = yaml.safe_load(render_desk(settings).text)
    written = []
    for entry in doc["write_files"]:
        if entry["path"].startswith(prefix):
            path = target / Path(entry["path"]).name
            path.write_text(entry["content"])
            written.append(path)
    assert written, prefix
    return written


@pytest.mark.parametrize("factory", DESKS)
def test_nftables_rules_pass_nft_check(
    factory: Callable[[], DeskBootSettings], tmp_path: Path
) -> None:
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed (Debian package nftables); rules not checked")
    (rules,) = _write(factory(), "/etc/bureau/metadata-block.nft", tmp_path)
    result = subprocess.run(["nft", "-c", "-f", str(rules)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("factory", DESKS)
def test_systemd_units_pass_systemd_analyze_verify(
    factory: Callable[[], DeskBootSettings], tmp_path: Path
) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed; units not checked")
    units = _write(factory(), "/etc/systemd/system/", tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True
    )
    # The agent's venv exists only inside a desk; anything else systemd says is a defect.
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "/opt/bureau/venv/bin/python is not executable" not in line
    ]
    assert complaints == []


# systemd.exec: with User= set, these imply NoNewPrivileges=yes, which makes `sudo -n -u desk`
# (how the agent runs tool commands) fail inside the desk.
IMPLIES_NO_NEW_PRIVILEGES = (
    "NoNewPrivileges=yes",
    "NoNewPrivileges=true",
    "SystemCallFilter=",
    "SystemCallArchitectures=",
    "RestrictAddressFamilies=",
    "RestrictNamespaces=",
    "PrivateDevices=",
    "ProtectKernelTunables=",
    "ProtectKernelModules=",
    "ProtectKernelLogs=",
    "ProtectClock=",
    "MemoryDenyWriteExecute=",
    "RestrictRealtime=",
    "RestrictSUIDSGID=",
    "DynamicUser=",
    "LockPersonality=",
)


@pytest.mark.parametrize("factory", DESKS)
def test_agent_unit_keeps_sudo_usable_for_tool_commands(
    factory: Callable[[], DeskBootSettings], tmp_path: Path
) -> None:
    (unit,) = _write(factory(), "/etc/systemd/system/bureau-agent.service", tmp_path)
    directives = [line.strip() for line in unit.read_text().splitlines()]
    offending = [d for d in directives if d.startswith(IMPLIES_NO_NEW_PRIVILEGES)]
    assert offending == []
