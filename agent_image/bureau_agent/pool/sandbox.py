"""The regular agent unit's sandbox, applied by hand to the pooled agent child (issue 9).

``bureau-agent.service`` (cloud_init/templates/bureau-agent.service.j2) runs the agent with
``PrivateTmp=true``, ``ProtectSystem=full``, ``ProtectControlGroups=true``, ``UMask=0077`` and
``LimitNOFILE=65536``. A pooled desk's agent is not started by that unit until the desk's next
boot: it is a child forked by the root resumer (bureau-pool.service). So the child, still root,
builds the same environment before it drops to ``bureau``: its own mount namespace (changes never
propagate back to the host's), private ``/tmp`` and ``/var/tmp`` (directories on disk, like
systemd's), ``/usr``, ``/boot``, ``/efi`` and ``/etc`` read-only, ``/sys/fs/cgroup`` read-only
and the open-file limit; the umask is set by ``launch.drop_privileges``. Tools run through
``sudo -u desk`` inherit it, as under the unit. Any failure is fatal for the child: the clone is
then discarded and the desk boots cold, never unsandboxed.
"""

from __future__ import annotations

import ctypes
import os
import resource
import secrets
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_SLAVE = 1 << 19
#: ProtectSystem=full.
READ_ONLY = ("/usr", "/boot", "/efi", "/etc")
#: ProtectControlGroups=true.
CGROUP = "/sys/fs/cgroup"
PRIVATE_TMP = ("/tmp", "/var/tmp")
NOFILE = 65536
#: statvfs flags carried over on a read-only remount (a bind remount may not clear them).
_KEEP = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC))


class SandboxError(Exception):
    """The sandbox could not be built (the message names the step)."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, flags: int) -> None:
    libc = _libc()
    src = source.encode() if source is not None else None
    if libc.mount(src, target.encode(), None, ctypes.c_ulong(flags), None) != 0:
        errno = ctypes.get_errno()
        raise SandboxError(f"mount {source or ''} {target} ({flags:#x}): {os.strerror(errno)}")


def _read_only(path: str) -> None:
    """Bind ``path`` onto itself (with what is mounted below it) and make that bind read-only."""
    _mount(path, path, MS_BIND | MS_REC)
    keep = 0
    flags = os.statvfs(path).f_flag
    for stat_flag, mount_flag in _KEEP:
        if flags & stat_flag:
            keep |= mount_flag
    _mount(None, path, MS_BIND | MS_REMOUNT | MS_RDONLY | keep)


def _private_tmp(path: str, tag: str) -> str:
    """A fresh 1777 directory inside ``path`` bound over ``path`` (what systemd's PrivateTmp
    does: ``<path>/systemd-private-*/tmp``); returns it."""
    outer = Path(path) / f"bureau-agent-private-{tag}"
    outer.mkdir(mode=0o700)
    inner = outer / "tmp"
    inner.mkdir()
    inner.chmod(0o1777)
    _mount(str(inner), path, MS_BIND)
    return str(inner)


def apply_agent_sandbox() -> list[str]:
    """Build the unit's sandbox for this process (root, before dropping privileges); returns
    what it did, one line per step."""
    if _libc().unshare(CLONE_NEWNS) != 0:
        raise SandboxError(f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}")
    done = ["own mount namespace"]
    _mount(None, "/", MS_REC | MS_SLAVE)
    tag = secrets.token_hex(6)
    for path in PRIVATE_TMP:
        if Path(path).is_dir():
            done.append(f"private {path} ({_private_tmp(path, tag)})")
    for path in READ_ONLY:
        if Path(path).is_dir():
            _read_only(path)
            done.append(f"{path} read-only")
    if Path(CGROUP).is_dir():
        _read_only(CGROUP)
        done.append(f"{CGROUP} read-only")
    done.append(_open_files())
    return done


def _open_files() -> str:
    """LimitNOFILE=65536; without CAP_SYS_RESOURCE (a container) up to the hard limit."""
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
        return f"LimitNOFILE={NOFILE}"
    except (ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        soft = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        return f"open files {soft} (hard limit {hard} kept: no CAP_SYS_RESOURCE)"
