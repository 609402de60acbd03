"""Desk disks: the NoCloud seed ISO, the copy-on-write root overlay, the persistent data disk."""

from __future__ import annotations

import base64
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from orchestrator.drivers.base import PermanentDriverError, TransientDriverError

#: Label of the data disk's ext4 filesystem (formatted on the host, so first boot skips mkfs).
DATA_LABEL = "bureau-data"


def _run(cmd: Sequence[str], what: str) -> None:
    try:
        result = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise PermanentDriverError(
            f"{what}: {cmd[0]} is not installed (Debian: qemu-utils, genisoimage, e2fsprogs)"
        ) from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-500:]
        raise TransientDriverError(f"{what} failed: {detail}")


def write_seed(
    path: Path, user_data: str, *, gzipped: bool, instance_id: str, hostname: str
) -> None:
    """A NoCloud ``cidata`` ISO: user-data + meta-data. It never holds a provider key."""
    body = base64.b64decode(user_data) if gzipped else user_data.encode()
    meta = f"instance-id: {instance_id}\nlocal-hostname: {hostname}\n".encode()
    with tempfile.TemporaryDirectory(prefix="bureau-seed-", dir=path.parent) as tmp:
        (Path(tmp) / "user-data").write_bytes(body)
        (Path(tmp) / "meta-data").write_bytes(meta)
        partial = path.with_suffix(".tmp")
        _run(
            ["genisoimage", "-quiet", "-output", str(partial), "-volid", "cidata",
             "-joliet", "-rock", str(Path(tmp) / "user-data"), str(Path(tmp) / "meta-data")],
            "seed ISO",
        )  # fmt: skip
    partial.chmod(0o600)
    partial.replace(path)


def create_overlay(path: Path, base_name: str) -> None:
    """A qcow2 overlay on ``base_name`` (relative: the desk directory can move)."""
    partial = path.with_suffix(".tmp")
    _run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", base_name, "-F", "qcow2", str(partial)],
        "root overlay",
    )
    partial.replace(path)


def create_data_disk(path: Path, size_gib: int) -> None:
    """A qcow2 data disk holding an empty ext4 filesystem labelled ``bureau-data``."""
    raw = path.with_suffix(".raw")
    try:
        _run(
            ["mkfs.ext4", "-q", "-F", "-L", DATA_LABEL, "-m", "0",
             "-E", "lazy_itable_init=0,lazy_journal_init=0", str(raw), f"{size_gib}G"],
            "data disk mkfs",
        )  # fmt: skip
        partial = path.with_suffix(".tmp")
        _run(["qemu-img", "convert", "-q", "-O", "qcow2", str(raw), str(partial)], "data disk")
        partial.replace(path)
    finally:
        raw.unlink(missing_ok=True)
