"""Offline source: debootstrap Debian bookworm, then the agent offline into /opt/bureau/venv.

Two cached stages so an agent change does not redo Debian: stage 1 (root filesystem) is keyed by
the recipe in agent_image/image/, stage 2 (agent + disk image) by the recipe and the agent's
sources. Needs root (debootstrap, chroot, mounts).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.image import recipe
from orchestrator.image.errors import ImageBuildError
from orchestrator.image.manifest import (
    DISK_NAME,
    INITRD_NAME,
    KERNEL_NAME,
    Manifest,
    file_entry,
    load_manifest,
)
from orchestrator.image.settings import ImageSettings
from orchestrator.image.steps import BuildProgress, remove_tree, require_tools, run_logged

#: Kernel command line for direct kernel boot of this image (the driver adds console options).
KERNEL_CMDLINE = "root=/dev/vda rw"
_VERSIONS_OF = ("linux-image-cloud-amd64", "cloud-init", "systemd", "python3")


def offline_key(settings: ImageSettings) -> str:
    rkey = recipe.recipe_hash(settings.recipe_dir, settings.mirror)
    akey = recipe.agent_hash(settings.agent_dir)
    return hashlib.sha256(f"offline:{rkey}:{akey}".encode()).hexdigest()[:20]


def build_offline(
    settings: ImageSettings, name: str, progress: BuildProgress, *, force: bool = False
) -> Path:
    """Build (or find in the cache) the offline image; return its cache directory."""
    key = offline_key(settings)
    image_dir = settings.cache / f"image-{key}"
    if not force and load_manifest(image_dir) is not None:
        progress(f"stage: cached image {image_dir}")
        os.utime(image_dir)  # recently used: kept by prune_cache
        return image_dir
    if os.geteuid() != 0:
        raise ImageBuildError(
            "the offline image source needs root (debootstrap, chroot); run as root or use "
            "`bureau image build --source online`"
        )
    require_tools("debootstrap", "chroot", "mkfs.ext4", "qemu-img")
    started = time.monotonic()
    rootfs = _ensure_rootfs(settings, progress, force=force)
    wheels = _ensure_wheels(settings, progress)
    work = settings.cache / f"work-{key}"
    remove_tree(work)
    work.mkdir(parents=True)
    try:
        progress("stage: copy root filesystem")
        tree = work / "rootfs"
        subprocess.run(["cp", "-a", "--reflink=auto", str(rootfs), str(tree)], check=True)
        agent_wheels = work / "wheels"
        _collect_wheels(settings, wheels, agent_wheels, progress)
        run_logged([settings.recipe_dir / "install-agent.sh", tree, agent_wheels], progress)
        out = work / "out"
        out.mkdir()
        _extract_boot_files(tree, out)
        packages = _package_versions(tree)
        python_version = _guest_python(tree)
        progress("stage: make ext4 root filesystem")
        raw = work / "root.raw"
        run_logged(
            ["mkfs.ext4", "-q", "-F", "-L", "bureau-root", "-d", tree, raw,
             f"{settings.root_size_gib}G"],
            progress,
        )  # fmt: skip
        progress("stage: convert to qcow2")
        run_logged(["qemu-img", "convert", "-O", "qcow2", raw, out / DISK_NAME], progress)
        raw.unlink()
        progress("stage: checksums")
        manifest = Manifest(
            name=name,
            source="offline",
            key=key,
            boot="kernel",
            kernel_cmdline=KERNEL_CMDLINE,
            agent_version=recipe.agent_version(settings.agent_dir),
            python_version=python_version,
            packages=packages,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            build_seconds=round(time.monotonic() - started, 1),
            files={n: file_entry(out / n) for n in (DISK_NAME, KERNEL_NAME, INITRD_NAME)},
        )
        manifest.save(out)
        remove_tree(image_dir)
        out.rename(image_dir)
    finally:
        remove_tree(work)
    progress(f"stage: image built in {time.monotonic() - started:.0f}s")
    return image_dir


def _ensure_rootfs(settings: ImageSettings, progress: BuildProgress, *, force: bool) -> Path:
    rkey = recipe.recipe_hash(settings.recipe_dir, settings.mirror)[:20]
    rootfs = settings.cache / f"rootfs-{rkey}"
    marker = settings.cache / f"rootfs-{rkey}.complete"
    if marker.exists() and rootfs.is_dir() and not force:
        progress(f"stage: cached root filesystem {rootfs}")
        os.utime(rootfs)
        return rootfs
    marker.unlink(missing_ok=True)
    tmp = settings.cache / f"rootfs-{rkey}.tmp"
    remove_tree(tmp)
    remove_tree(rootfs)
    settings.cache.mkdir(parents=True, exist_ok=True)
    run_logged([settings.recipe_dir / "build-rootfs.sh", tmp, settings.mirror], progress)
    tmp.rename(rootfs)
    marker.touch()
    return rootfs


def _ensure_wheels(settings: ImageSettings, progress: BuildProgress) -> Path:
    """Dependency wheels for cp311 (the guest's Python), downloaded once per agent pyproject."""
    dkey = recipe.dependencies_hash(settings.agent_dir)[:20]
    wheels = settings.cache / f"wheels-{dkey}"
    if (wheels / ".complete").exists():
        progress(f"stage: cached dependency wheels {wheels}")
        return wheels
    remove_tree(wheels)
    progress("stage: dependency wheels (pip wheel, from PyPI)")
    _pip_wheel(settings.agent_dir, wheels, progress, deps=True)
    for stale in wheels.glob("bureau_agent-*.whl"):
        stale.unlink()
    (wheels / ".complete").touch()
    return wheels


def _collect_wheels(
    settings: ImageSettings, deps: Path, target: Path, progress: BuildProgress
) -> None:
    progress("stage: agent wheel")
    target.mkdir(parents=True)
    for wheel in deps.glob("*.whl"):
        os.link(wheel, target / wheel.name)
    _pip_wheel(settings.agent_dir, target, progress, deps=False)


def _pip_wheel(source: Path, target: Path, progress: BuildProgress, *, deps: bool) -> None:
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check"]
    cmd += [] if deps else ["--no-deps"]
    run_logged([*cmd, "-w", str(target), str(source)], progress)


def _extract_boot_files(tree: Path, out: Path) -> None:
    kernels = sorted((tree / "boot").glob("vmlinuz-*"))
    initrds = sorted((tree / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise ImageBuildError(f"no kernel/initrd in {tree / 'boot'}: the kernel package failed")
    shutil.copy2(kernels[-1], out / KERNEL_NAME)
    shutil.copy2(initrds[-1], out / INITRD_NAME)


def _package_versions(tree: Path) -> dict[str, str]:
    result = subprocess.run(
        ["chroot", str(tree), "dpkg-query", "-W", "-f", "${Package} ${Version}\n", *_VERSIONS_OF],
        capture_output=True,
        text=True,
        check=False,
    )
    pairs = (line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    return dict(pairs)


def _guest_python(tree: Path) -> str:
    result = subprocess.run(
        ["chroot", str(tree), "/usr/bin/python3", "-c",
         "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    version = result.stdout.strip()
    if not version.startswith("3.11"):
        raise ImageBuildError(f"guest python3 is {version!r}; the wheels are built for cp311")
    return version
