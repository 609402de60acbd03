"""One local desk on disk: ``<data_dir>/qemu/desks/<desk_id>/`` and what it holds.

Everything a desk owns lives in its directory, so re-adoption after a control-plane restart is
reading the directory, and destroy is removing it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RECORD = "desk.json"
BASE = "base.qcow2"
KERNEL = "vmlinuz"
INITRD = "initrd.img"
ROOT = "root.qcow2"
DATA = "data.qcow2"
SEED = "seed.iso"
PIDFILE = "qemu.pid"
QMP = "qmp.sock"
CONSOLE = "console.log"
QEMU_ERR = "qemu.err"
PASST_SOCKET = "passt.sock"
PASST_PID = "passt.pid"


class DeskRecord(BaseModel):
    """The facts needed to boot the desk again (no secret: the seed ISO is a separate file)."""

    model_config = ConfigDict(extra="ignore")

    desk_id: str
    name: str
    image: str
    image_key: str
    boot: str
    kernel_cmdline: str
    memory_mib: int
    vcpus: int
    disk_gib: int
    agent_port: int | None = None
    control_plane_port: int | None = None
    network: str = "restricted"
    accel: str | None = None


class DeskDir:
    def __init__(self, root: Path, desk_id: str) -> None:
        self.desk_id = desk_id
        self.path = root / desk_id

    def file(self, name: str) -> Path:
        return self.path / name

    def exists(self) -> bool:
        return self.path.is_dir()

    def record(self) -> DeskRecord | None:
        try:
            return DeskRecord.model_validate(json.loads(self.file(RECORD).read_text()))
        except (OSError, ValueError):
            return None

    def save(self, record: DeskRecord) -> None:
        tmp = self.file(RECORD + ".tmp")
        tmp.write_text(record.model_dump_json(indent=2) + "\n")
        tmp.replace(self.file(RECORD))

    def console_tail(self, max_bytes: int) -> str:
        try:
            with self.file(CONSOLE).open("rb") as handle:
                handle.seek(0, 2)
                size = handle.tell()
                handle.seek(max(0, size - max_bytes))
                data = handle.read()
        except OSError:
            return ""
        text = _ANSI.sub("", data.decode("utf-8", errors="replace")).replace("\r", "")
        return text
