"""Online source: Debian's official genericcloud qcow2 (no root needed), agent installed at build.

Steps: download the image and check it against Debian's SHA512SUMS; build the agent's wheels on
this host; boot the image once under QEMU (TCG, user networking with internet) with a NoCloud seed
whose runcmd installs python3-venv from Debian, creates /opt/bureau/venv from the wheels on a
second ISO, resets cloud-init and powers off. The result boots from its own disk (GRUB), so the
manifest says ``boot: disk``. Not exercised by the tests here: the build machines have no route to
cloud.debian.org.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from orchestrator.image import recipe
from orchestrator.image.errors import ImageBuildError
from orchestrator.image.manifest import DISK_NAME, Manifest, file_entry, load_manifest
from orchestrator.image.offline import _collect_wheels, _ensure_wheels
from orchestrator.image.settings import ImageSettings
from orchestrator.image.steps import BuildProgress, remove_tree, require_tools, run_logged

_OK_MARKER = "BUREAU-IMAGE-CUSTOMIZED"
_USER_DATA = f"""#cloud-config
runcmd:
  - [sh, -c, "mkdir -p /mnt/wheels && mount -o ro LABEL=BUREAUWHL /mnt/wheels"]
  - [sh, -c, "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
python3-venv nftables sudo curl ca-certificates"]
  - [python3, -m, venv, /opt/bureau/venv]
  - [/opt/bureau/venv/bin/pip, install, -q, --no-index, --find-links, /mnt/wheels, bureau-agent]
  - [sh, -c, "/opt/bureau/venv/bin/python -c 'import importlib.metadata as m; \
print(m.version(\\"bureau-agent\\"))' > /opt/bureau/agent-version"]
  - [ln, -sf, /opt/bureau/venv/bin/bureau-agent, /usr/local/bin/bureau-agent]
  - [sh, -c, "umount /mnt/wheels; cloud-init clean --logs --machine-id"]
  - [sh, -c, "echo {_OK_MARKER} > /dev/ttyS0"]
power_state:
  mode: poweroff
  timeout: 60
"""


def online_key(settings: ImageSettings) -> str:
    akey = recipe.agent_hash(settings.agent_dir)
    text = f"online:{recipe.BUILDER_VERSION}:{settings.cloud_image_url}:{akey}:{_USER_DATA}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def build_online(
    settings: ImageSettings, name: str, progress: BuildProgress, *, force: bool = False
) -> Path:
    """Download, customize and cache the genericcloud image; return its cache directory."""
    key = online_key(settings)
    image_dir = settings.cache / f"image-{key}"
    if not force and load_manifest(image_dir) is not None:
        progress(f"stage: cached image {image_dir}")
        os.utime(image_dir)  # recently used: kept by prune_cache
        return image_dir
    require_tools("qemu-img", "qemu-system-x86_64", "genisoimage")
    started = time.monotonic()
    download = _download(settings, progress)
    wheels = _ensure_wheels(settings, progress)
    work = settings.cache / f"work-{key}"
    remove_tree(work)
    work.mkdir(parents=True)
    try:
        _collect_wheels(settings, wheels, work / "wheels", progress)
        progress("stage: wheels ISO + seed")
        run_logged(["genisoimage", "-quiet", "-output", work / "wheels.iso", "-volid",
                    "BUREAUWHL", "-joliet", "-rock", work / "wheels"], progress)  # fmt: skip
        (work / "seed").mkdir()
        (work / "seed" / "user-data").write_text(_USER_DATA)
        (work / "seed" / "meta-data").write_text(f"instance-id: build-{key}\n")
        run_logged(["genisoimage", "-quiet", "-output", work / "seed.iso", "-volid", "cidata",
                    "-joliet", "-rock", work / "seed" / "user-data", work / "seed" / "meta-data"],
                   progress)  # fmt: skip
        out = work / "out"
        out.mkdir()
        disk = out / DISK_NAME
        run_logged(["qemu-img", "convert", "-O", "qcow2", download, disk], progress)
        run_logged(["qemu-img", "resize", "-q", disk, f"{settings.root_size_gib}G"], progress)
        _customize(work, disk, progress)
        manifest = Manifest(
            name=name,
            source="online",
            key=key,
            boot="disk",
            agent_version=recipe.agent_version(settings.agent_dir),
            python_version="3.11",
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            build_seconds=round(time.monotonic() - started, 1),
            files={DISK_NAME: file_entry(disk)},
        )
        manifest.save(out)
        remove_tree(image_dir)
        out.rename(image_dir)
    finally:
        remove_tree(work)
    return image_dir


def _download(settings: ImageSettings, progress: BuildProgress) -> Path:
    url = settings.cloud_image_url
    target = settings.cache / "downloads" / url.rsplit("/", 1)[-1]
    sums_url = url.rsplit("/", 1)[0] + "/SHA512SUMS"
    try:
        sums = httpx.get(sums_url, follow_redirects=True, timeout=30).raise_for_status().text
    except httpx.HTTPError as exc:
        raise ImageBuildError(f"cannot fetch {sums_url}: {exc}") from exc
    expected = {line.split()[-1]: line.split()[0] for line in sums.splitlines() if line.strip()}
    want = expected.get(target.name)
    if want is None:
        raise ImageBuildError(f"{target.name} is not listed in {sums_url}")
    if target.is_file() and _sha512(target) == want:
        progress(f"stage: cached download {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    progress(f"stage: download {url}")
    partial = target.with_suffix(".part")
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length", 0))
            done = 0
            with partial.open("wb") as handle:
                for chunk in response.iter_bytes(1 << 20):
                    handle.write(chunk)
                    done += len(chunk)
                    progress(f"downloaded {done >> 20} / {total >> 20} MiB")
    except httpx.HTTPError as exc:
        raise ImageBuildError(f"download of {url} failed: {exc}") from exc
    if _sha512(partial) != want:
        partial.unlink()
        raise ImageBuildError(f"{url} does not match its SHA512SUMS entry")
    partial.replace(target)
    return target


def _sha512(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _customize(work: Path, disk: Path, progress: BuildProgress) -> None:
    """Boot the image once; its runcmd installs the agent and powers off."""
    progress("stage: first boot (installs the agent; several minutes under TCG)")
    console = work / "console.log"
    cmd = [
        "qemu-system-x86_64", "-M", "q35", "-accel", "tcg,tb-size=128", "-cpu", "max",
        "-m", "1024", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-drive", f"file={disk},if=virtio,format=qcow2",
        "-drive", f"file={work / 'seed.iso'},if=virtio,format=raw,readonly=on",
        "-drive", f"file={work / 'wheels.iso'},if=virtio,format=raw,readonly=on",
        "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
        "-serial", f"file:{console}",
    ]  # fmt: skip
    try:
        subprocess.run(cmd, check=False, timeout=3600, capture_output=True)
    except subprocess.TimeoutExpired as exc:
        raise ImageBuildError("the customization boot did not power off within an hour") from exc
    log = console.read_text(errors="replace") if console.exists() else ""
    if _OK_MARKER not in log:
        raise ImageBuildError(f"the customization boot failed; console tail:\n{log[-2000:]}")
