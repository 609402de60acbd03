"""Doubles for the resume sequence: a recording system and launcher sharing one event log."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bureau_agent.pool.resume import AGENT_ENV, LaunchResult, Resumer
from bureau_agent.pool.wire import ResumeRequest

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
BOOTSTRAP_TOKEN = "bt_" + "a1" * 20


@dataclass
class RecordingSystem:
    log: list[str] = field(default_factory=list)
    clock_ns: int | None = None
    entropy: bytes = b""
    hostname: str | None = None
    mounts: list[tuple[str, Path, bool]] = field(default_factory=list)
    chowns: dict[Path, tuple[str, str]] = field(default_factory=dict)
    commands: list[list[str]] = field(default_factory=list)

    def set_clock(self, unix_ns: int) -> None:
        self.log.append("clock")
        self.clock_ns = unix_ns

    def add_entropy(self, data: bytes) -> None:
        self.log.append("entropy")
        self.entropy = data

    def set_hostname(self, name: str) -> None:
        self.log.append("hostname")
        self.hostname = name

    def flush_block_device(self, device: str) -> None:
        self.log.append(f"flush {device}")

    def filesystem_uuid(self, device: str) -> str:
        return "0b7e2c1a-1111-2222-3333-444455556666"

    def mount(self, source: str, target: Path, *, fstype: str | None, bind: bool) -> None:
        self.log.append(f"mount {target.name}")
        self.mounts.append((source, target, bind))

    def chown(self, path: Path, user: str, group: str) -> None:
        self.chowns[path] = (user, group)

    def run(self, argv: Sequence[str]) -> None:
        self.log.append(" ".join(argv))
        self.commands.append(list(argv))


@dataclass
class RecordingLauncher:
    resumer_root: Path
    log: list[str]
    enrolled: bool = True
    seen_env: str = ""
    seen_token: str = ""

    def launch(self, config_file: Path) -> LaunchResult:
        self.log.append("enroll")
        self.seen_env = config_file.read_text()
        self.seen_token = (self.resumer_root / "etc/bureau/bootstrap-token").read_text()
        assert config_file == self.resumer_root / AGENT_ENV.lstrip("/")
        return LaunchResult(self.enrolled, None if self.enrolled else "enrollment refused: 401")


def make_resumer(
    root: Path, *, enrolled: bool = True
) -> tuple[Resumer, RecordingSystem, RecordingLauncher]:
    system = RecordingSystem()
    launcher = RecordingLauncher(root, system.log, enrolled=enrolled)
    return Resumer(root, system, launcher), system, launcher


def resume_request(**overrides: object) -> ResumeRequest:
    fields: dict[str, object] = {
        "desk_id": "dsk_0123456789",
        "hostname": "dsk-0123456789",
        "agent_env": [
            ("BUREAU_DESK_ID", "dsk_0123456789"),
            ("BUREAU_CONTROL_PLANE_URL", "https://10.0.2.100:8443"),
            ("BUREAU_CONTROL_PLANE_CA_FILE", "/etc/bureau/control-plane-ca.pem"),
            ("BUREAU_BOOTSTRAP_TOKEN_FILE", "/etc/bureau/bootstrap-token"),
            ("ASSISTANT_PROVIDER", "openai"),
            ("ASSISTANT_MODEL", "gpt 4o (test)"),
        ],
        "control_plane_ca_pem": CA_PEM,
        "bootstrap_token": BOOTSTRAP_TOKEN,
        "data_disk_device": "/dev/vdb",
        "host_time_ns": 1_790_000_000_000_000_000,
        "entropy_b64": base64.b64encode(os.urandom(48)).decode(),
    }
    fields.update(overrides)
    return ResumeRequest.model_validate(fields)
