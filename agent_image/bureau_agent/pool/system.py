"""The privileged operations of a resume, behind one small interface.

``HostSystem`` performs them for real (root, in the guest); tests pass a recording double and a
temporary root directory, so the whole sequence runs without privileges.
"""

from __future__ import annotations

import ctypes
import fcntl
import grp
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

#: ``_IO('R', 0x07)``: force the kernel CRNG to reseed from the input pool (CAP_SYS_ADMIN).
RNDRESEEDCRNG = 0x5207
#: ``_IO(0x12, 97)``: drop a block device's buffer cache (the template cached another disk).
BLKFLSBUF = 0x1261


#: mount(2) flag of a bind mount.
MS_BIND = 4096
_EXT_MAGIC = 0xEF53


def _libc() -> ctypes.CDLL:
    """The C library the interpreter already links (``find_library`` would start ldconfig)."""
    return ctypes.CDLL(None, use_errno=True)


def ext_uuid(device: str) -> str:
    """The UUID of the ext2/3/4 file system on ``device``, read from its superblock (what
    ``blkid -s UUID`` prints), without starting a process (each costs ~0.2 s under TCG)."""
    with open(device, "rb") as handle:
        handle.seek(1024)
        block = handle.read(1024)
    if len(block) < 0x78 or int.from_bytes(block[0x38:0x3A], "little") != _EXT_MAGIC:
        raise SystemError_(f"{device} holds no ext2/3/4 file system")
    raw = block[0x68:0x78].hex()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


class SystemError_(Exception):
    """A privileged step failed; the message says which command and why."""


class System(Protocol):
    def set_clock(self, unix_ns: int) -> None: ...

    def add_entropy(self, data: bytes) -> None:
        """Mix ``data`` into the kernel pool, then force the CRNG to reseed."""

    def set_hostname(self, name: str) -> None: ...

    def flush_block_device(self, device: str) -> None: ...

    def filesystem_uuid(self, device: str) -> str: ...

    def mount(self, source: str, target: Path, *, fstype: str | None, bind: bool) -> None: ...

    def chown(self, path: Path, user: str, group: str) -> None: ...

    def run(self, argv: Sequence[str]) -> None: ...


def _check(argv: Sequence[str]) -> str:
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SystemError_(f"{argv[0]}: {exc}") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-300:]
        raise SystemError_(f"{' '.join(argv)} failed ({result.returncode}): {detail}")
    return result.stdout


class HostSystem:
    """The real thing (root inside the guest)."""

    def set_clock(self, unix_ns: int) -> None:
        try:
            time.clock_settime_ns(time.CLOCK_REALTIME, unix_ns)
        except OSError as exc:
            raise SystemError_(f"cannot set the clock: {exc.strerror}") from None

    def add_entropy(self, data: bytes) -> None:
        try:
            fd = os.open("/dev/urandom", os.O_WRONLY)
            try:
                os.write(fd, data)
                fcntl.ioctl(fd, RNDRESEEDCRNG)
            finally:
                os.close(fd)
        except OSError as exc:
            raise SystemError_(f"cannot reseed the kernel RNG: {exc.strerror}") from None

    def set_hostname(self, name: str) -> None:
        try:
            socket.sethostname(name)
        except OSError as exc:
            raise SystemError_(f"cannot set the hostname: {exc.strerror}") from None

    def flush_block_device(self, device: str) -> None:
        try:
            fd = os.open(device, os.O_RDONLY)
            try:
                fcntl.ioctl(fd, BLKFLSBUF)
            finally:
                os.close(fd)
        except OSError as exc:
            raise SystemError_(f"cannot flush {device}: {exc.strerror}") from None

    def filesystem_uuid(self, device: str) -> str:
        try:
            return ext_uuid(device)
        except OSError as exc:
            raise SystemError_(f"cannot read the file system of {device}: {exc}") from None

    def mount(self, source: str, target: Path, *, fstype: str | None, bind: bool) -> None:
        """mount(2) directly (``mount`` the program costs a process start under TCG)."""
        flags = MS_BIND if bind else 0
        kind = None if bind else (fstype or "ext4").encode()
        result = _libc().mount(source.encode(), str(target).encode(), kind, flags, None)
        if result != 0:
            errno = ctypes.get_errno()
            raise SystemError_(f"mount {source} on {target} failed: {os.strerror(errno)}")

    def chown(self, path: Path, user: str, group: str) -> None:
        try:
            os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
        except (KeyError, OSError) as exc:
            raise SystemError_(f"cannot chown {path} to {user}:{group}: {exc}") from None

    def run(self, argv: Sequence[str]) -> None:
        if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
            raise SystemError_(f"{argv[0]} is not installed")
        _check(argv)
