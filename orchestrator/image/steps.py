"""Small build steps shared by the offline and online sources: subprocesses, locks, trees."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from orchestrator.image.errors import ImageBuildError

#: Progress callback: one line of build output or a stage name.
BuildProgress = Callable[[str], None]


def run_logged(
    cmd: Sequence[str | os.PathLike[str]],
    progress: BuildProgress,
    *,
    env: dict[str, str] | None = None,
) -> None:
    """Run ``cmd``, streaming its output lines to ``progress``; raise with the tail on failure."""
    tail: deque[str] = deque(maxlen=40)
    try:
        proc = subprocess.Popen(
            [str(part) for part in cmd],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env={**os.environ, **(env or {})},
        )
    except OSError as exc:
        raise ImageBuildError(f"cannot run {cmd[0]}: {exc}") from exc
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            progress(line)
    finally:
        if proc.poll() is None:  # interrupted: let the script's traps unmount, then stop it
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.stdout.close()
    code = proc.wait()
    if code != 0:
        output = "\n".join(tail)
        raise ImageBuildError(f"{Path(str(cmd[0])).name} failed (exit {code}):\n{output}")


def require_tools(*names: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise ImageBuildError(
            f"missing host tools: {', '.join(missing)} "
            "(Debian: apt-get install debootstrap qemu-utils e2fsprogs genisoimage)"
        )


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """One build per cache at a time (parallel test sessions share the cache)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return sorted((p for p in points if p.startswith(prefix)), reverse=True)


def remove_tree(path: Path) -> None:
    """Remove a build tree, first detaching mounts a killed build may have left inside it."""
    if not path.exists():
        return
    for point in _mounts_under(path):
        subprocess.run(["umount", "-l", point], check=False)
    if _mounts_under(path):
        raise ImageBuildError(f"{path} still has mounts inside; unmount them and retry")
    # --one-file-system: never descend into a bind mount (a chroot's /dev).
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link when on the same filesystem (instant, and the inode outlives a rebuild)."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def prune_cache(cache: Path, keep: int = 2) -> None:
    """Keep the ``keep`` newest root filesystems and images; remove older ones (and .tmp leftovers).

    Installed images are hard links, so a pruned cache entry never breaks an installed image.
    """
    for kind in ("rootfs-", "image-"):
        entries = [p for p in cache.glob(f"{kind}*") if p.is_dir() and not p.name.endswith(".tmp")]
        entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[keep:]:
            remove_tree(old)
            (cache / f"{old.name}.complete").unlink(missing_ok=True)
