"""Choose the accelerator: KVM only when a probe boot proves it works here, else TCG.

On some hosts ``/dev/kvm`` exists but a stock kernel hangs under it (nested virtualization without
the right CPU features). The probe boots the image's kernel under KVM with
``-cpu host,-arch-capabilities`` and waits for the kernel to reach userspace (``Run /init``) on the
serial console. The verdict is cached per QEMU binary + kernel in ``<data_dir>/qemu/accel.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

KVM_CPU = "host,-arch-capabilities"
TCG_CPU = "max"
_USERSPACE_MARKERS = (b"Run /init as init process", b"Kernel panic", b"Run /sbin/init")


@dataclass(frozen=True)
class Accel:
    name: str
    """``kvm`` or ``tcg``."""
    reason: str
    """Why, for the desk's events."""

    def qemu_args(self, tcg_tb_size_mib: int) -> list[str]:
        if self.name == "kvm":
            return ["-accel", "kvm", "-cpu", KVM_CPU]
        return ["-accel", f"tcg,tb-size={tcg_tb_size_mib}", "-cpu", TCG_CPU]


def _kvm_usable() -> str | None:
    """None when /dev/kvm can be opened, else why not."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"/dev/kvm unusable ({exc.strerror})"
    os.close(fd)
    return None


def probe_kvm(binary: str, kernel: Path, initrd: Path, timeout: float) -> str | None:
    """Boot ``kernel`` under KVM; None when it reached userspace, else what went wrong."""
    with tempfile.TemporaryDirectory(prefix="bureau-kvm-probe-") as tmp:
        console = Path(tmp) / "console.log"
        cmd = [
            binary, "-accel", "kvm", "-cpu", KVM_CPU, "-M", "q35", "-m", "256",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", str(kernel), "-initrd", str(initrd),
            "-append", "console=ttyS0 panic=-1 rdinit=/bin/false",
            "-serial", f"file:{console}",
        ]  # fmt: skip
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:
            return f"cannot run {binary}: {exc}"
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if console.exists() and any(m in console.read_bytes() for m in _USERSPACE_MARKERS):
                    return None
                if proc.poll() is not None:
                    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    return f"KVM probe exited early ({proc.returncode}): {stderr.strip()[:200]}"
                time.sleep(0.1)
            return f"KVM probe boot did not reach userspace within {timeout:.0f}s"
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stderr:
                proc.stderr.close()


def choose_accel(
    mode: str, binary: str, kernel: Path, initrd: Path, cache_file: Path, timeout: float
) -> Accel:
    """The accelerator for ``mode`` (auto|kvm|tcg), probing (and caching) when auto."""
    if mode == "tcg":
        return Accel("tcg", "TCG (BUREAU_QEMU_ACCEL=tcg)")
    if mode == "kvm":
        return Accel("kvm", "KVM (BUREAU_QEMU_ACCEL=kvm, not probed)")
    unusable = _kvm_usable()
    if unusable:
        return Accel("tcg", f"TCG: {unusable}")
    key = _probe_key(binary, kernel)
    cached = _read_cache(cache_file).get(key)
    if cached is not None:
        return Accel(cached["name"], cached["reason"] + " (cached probe)")
    failure = probe_kvm(binary, kernel, initrd, timeout)
    accel = (
        Accel("kvm", "KVM: probe boot reached userspace")
        if failure is None
        else Accel("tcg", f"TCG: {failure}")
    )
    _write_cache(cache_file, key, accel)
    return accel


def _probe_key(binary: str, kernel: Path) -> str:
    stat = kernel.stat()
    return hashlib.sha256(
        f"{binary}:{kernel.name}:{stat.st_size}:{stat.st_ino}".encode()
    ).hexdigest()


def _read_cache(cache_file: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(cache_file: Path, key: str, accel: Accel) -> None:
    data = _read_cache(cache_file)
    data[key] = {"name": accel.name, "reason": accel.reason}
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(cache_file)
