"""HostSystem's mount and file system UUID against a real ext4 loop device (root only)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bureau_agent.pool.system import HostSystem, SystemError_

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("losetup") is None or shutil.which("mkfs.ext4") is None,
    reason="needs root, losetup and mkfs.ext4",
)


@pytest.fixture
def ext4_device(tmp_path: Path) -> Iterator[str]:
    image = tmp_path / "disk.img"
    image.write_bytes(b"")
    os.truncate(image, 32 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", str(image)], check=True)
    device = subprocess.run(
        ["losetup", "-f", "--show", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    yield device
    subprocess.run(["losetup", "-d", device], check=False)


def _mounted(path: Path) -> bool:
    mounts = Path("/proc/mounts").read_text().splitlines()
    return any(line.split()[1] == str(path) for line in mounts)


def test_the_file_system_uuid_is_the_one_blkid_reads(ext4_device: str) -> None:
    blkid = subprocess.run(
        ["blkid", "-o", "value", "-s", "UUID", ext4_device],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert HostSystem().filesystem_uuid(ext4_device) == blkid


def test_a_disk_and_a_bind_mount_of_one_of_its_directories(
    ext4_device: str, tmp_path: Path
) -> None:
    system = HostSystem()
    disk, bound = tmp_path / "disk", tmp_path / "bound"
    disk.mkdir()
    bound.mkdir()
    system.mount(ext4_device, disk, fstype="ext4", bind=False)
    try:
        (disk / "home").mkdir()
        (disk / "home" / "note").write_text("on the data disk")
        system.mount(str(disk / "home"), bound, fstype=None, bind=True)
        try:
            assert (bound / "note").read_text() == "on the data disk"
            assert _mounted(disk) and _mounted(bound)
        finally:
            subprocess.run(["umount", str(bound)], check=True)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_failed_mount_names_the_source_and_the_reason(tmp_path: Path) -> None:
    with pytest.raises(SystemError_, match=r"/dev/bureau-missing.*No such file"):
        HostSystem().mount("/dev/bureau-missing", tmp_path, fstype="ext4", bind=False)


def test_a_device_without_ext4_has_no_uuid(tmp_path: Path) -> None:
    blank = tmp_path / "blank.img"
    blank.write_bytes(bytes(4096))
    with pytest.raises(SystemError_, match="no ext2/3/4"):
        HostSystem().filesystem_uuid(str(blank))
