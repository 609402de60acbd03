"""The resume sequence of a pooled clone, in its security order (issue 9, DESIGN.md §4).

Every clone of one snapshot starts with the same clock, kernel RNG state, machine-id and
hostname. So, in this order: set the clock; reseed the kernel RNG (host bytes into /dev/urandom,
then ``RNDRESEEDCRNG``) and Python's RNG; write a new machine-id and hostname; regenerate SSH host
keys when SSH is enabled; mount the desk's data disk; write the desk's files (what cloud-init writes
on the cold path); only then let the launcher create the TLS key and enroll, in a child process
forked after the reseed (OpenSSL's DRBGs reseed on a pid change, so no pre-snapshot RNG state
survives into the key). A resumer resumes once: a second request is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bureau_agent.pool.system import System, SystemError_
from bureau_agent.pool.wire import ResumeRequest, ResumeResponse, StepTiming

DATA_MOUNT = "/srv/bureau-data"
AGENT_ENV = "/etc/bureau/agent.env"
CA_FILE = "/etc/bureau/control-plane-ca.pem"
TOKEN_FILE = "/etc/bureau/bootstrap-token"  # noqa: S105 - a path
POOL_TOKEN_FILE = "/etc/bureau/pool-token"  # noqa: S105 - a path
RESUMED_MARK = "/var/lib/bureau-pool/resumed"
AGENT_DATA_DIR = "/var/lib/bureau/agent"
WORKSPACE_DIR = "/home/desk/workspace"
#: cloud-init's copies of the user-data (a Hetzner pool server's hold its pool-identity token;
#: a qemu template's hold none).
USER_DATA_COPIES = (
    "/var/lib/cloud/instance/user-data.txt",
    "/var/lib/cloud/instance/user-data.txt.i",
    "/var/lib/cloud/instance/cloud-config.txt",
)
STEP_ORDER = (
    "clock",
    "entropy",
    "identity",
    "ssh_host_keys",
    "data_disk",
    "desk_files",
    "enroll",
)
_PLAIN_ENV_VALUE = re.compile(r"^[A-Za-z0-9_./:@+,=-]*$")


class AlreadyResumed(Exception):
    """This clone was already resumed (or a resume is in progress): resume is single use."""


class ResumeFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"resume step {step} failed: {message}")
        self.step = step


@dataclass(frozen=True)
class LaunchResult:
    enrolled: bool
    error: str | None = None


class Launcher(Protocol):
    def launch(self, config_file: Path) -> LaunchResult:
        """Create the TLS key and enroll (with the agent's own code), then serve."""


def env_line(name: str, value: str) -> str:
    """``NAME=value`` for a dotenv/systemd EnvironmentFile (bare when plain, else quoted)."""
    if "${" in value:
        raise ValueError(f"agent.env value of {name} cannot contain '${{'")
    if _PLAIN_ENV_VALUE.match(value):
        return f"{name}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"'


def _probe() -> str:
    return hashlib.sha256(os.urandom(32)).hexdigest()


class Resumer:
    """Runs the sequence against ``root`` (``/`` in the guest, a temporary directory in tests)."""

    def __init__(
        self,
        root: Path,
        system: System,
        launcher: Launcher,
        *,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.root = root
        self.system = system
        self.launcher = launcher
        self._monotonic_ns = monotonic_ns
        self._lock = threading.Lock()
        self._claimed = self.path(RESUMED_MARK).exists()

    def path(self, guest_path: str) -> Path:
        return self.root / guest_path.lstrip("/")

    @property
    def resumed(self) -> bool:
        return self._claimed

    def claim(self) -> None:
        """Take the single resume; raise ``AlreadyResumed`` for any later caller."""
        with self._lock:
            if self._claimed:
                raise AlreadyResumed("this clone was already resumed")
            self._claimed = True
        mark = self.path(RESUMED_MARK)
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.write_text(f"{time.time_ns()}\n")

    def resume(self, request: ResumeRequest, received_monotonic_ns: int) -> ResumeResponse:
        """The whole sequence; ``claim()`` first. Raises ``ResumeFailed`` naming the step."""
        steps: list[StepTiming] = []

        def step(name: str, action: Callable[[], str]) -> None:
            started = time.perf_counter()
            try:
                detail = action()
            except (SystemError_, OSError, ValueError) as exc:
                raise ResumeFailed(name, str(exc)) from None
            steps.append(
                StepTiming(name=name, ms=(time.perf_counter() - started) * 1000, detail=detail)
            )

        probes: dict[str, str] = {}
        identity: dict[str, str] = {}
        step("clock", lambda: self._set_clock(request, received_monotonic_ns))
        step("entropy", lambda: self._reseed(request, probes))
        step("identity", lambda: self._identity(request, identity))
        step("ssh_host_keys", lambda: self._ssh_host_keys(request))
        step("data_disk", lambda: self._data_disk(request))
        step("desk_files", lambda: self._desk_files(request))
        guest_time_ns = time.time_ns()
        started = time.perf_counter()
        result = self.launcher.launch(self.path(AGENT_ENV))
        steps.append(
            StepTiming(
                name="enroll", ms=(time.perf_counter() - started) * 1000, detail=result.error or ""
            )
        )
        return ResumeResponse(
            desk_id=request.desk_id,
            hostname=request.hostname,
            machine_id=identity["machine_id"],
            guest_time_ns=guest_time_ns,
            rng_probe_before=probes["before"],
            rng_probe_after=probes["after"],
            steps=steps,
            enrolled=result.enrolled,
            error=result.error,
        )

    def finish(self, enrolled: bool) -> None:
        """After the response: next boots use the regular agent unit; drop the spent token.

        ``--no-reload``: the links only matter at the next boot, and the daemon-reload that
        ``enable``/``disable`` would otherwise run (every unit file re-read, the generators run
        again) would take the desk's vCPU while the agent starts serving."""
        if enrolled:
            with contextlib.suppress(OSError):
                self.path(TOKEN_FILE).unlink()
        for argv in (
            ["systemctl", "enable", "--no-reload", "bureau-agent.service"],
            ["systemctl", "disable", "--no-reload", "bureau-pool.service"],
        ):
            with contextlib.suppress(SystemError_):
                self.system.run(argv)

    # -- steps --------------------------------------------------------------------------------

    def _set_clock(self, request: ResumeRequest, received_ns: int) -> str:
        now = request.host_time_ns + (self._monotonic_ns() - received_ns)
        self.system.set_clock(now)
        return "set from the host"

    def _reseed(self, request: ResumeRequest, probes: dict[str, str]) -> str:
        probes["before"] = _probe()
        entropy = request.entropy()
        self.system.add_entropy(entropy)
        random.seed(os.urandom(32))
        probes["after"] = _probe()
        return f"{len(entropy)} host bytes mixed in, CRNG reseeded"

    def _identity(self, request: ResumeRequest, identity: dict[str, str]) -> str:
        machine_id = os.urandom(16).hex()
        identity["machine_id"] = machine_id
        _write(self.path("/etc/machine-id"), machine_id + "\n", 0o444)
        dbus = self.path("/var/lib/dbus/machine-id")
        if dbus.exists() and not dbus.is_symlink():
            _write(dbus, machine_id + "\n", 0o444)
        self.system.set_hostname(request.hostname)
        _write(self.path("/etc/hostname"), request.hostname + "\n", 0o644)
        hosts = self.path("/etc/hosts")
        lines = hosts.read_text().splitlines() if hosts.exists() else ["127.0.0.1 localhost"]
        lines = [line for line in lines if not line.startswith("127.0.1.1")]
        lines.insert(1, f"127.0.1.1 {request.hostname}")
        _write(hosts, "\n".join(lines) + "\n", 0o644)
        return f"machine-id and hostname {request.hostname}"

    def _ssh_host_keys(self, request: ResumeRequest) -> str:
        if not request.ssh_authorized_keys:
            return "SSH disabled (no key given)"
        if not self.path("/usr/sbin/sshd").exists():
            return "no sshd in the image: nothing to regenerate"
        for key in self.path("/etc/ssh").glob("ssh_host_*"):
            key.unlink()
        self.system.run(["ssh-keygen", "-A"])
        return "host keys regenerated"

    def _data_disk(self, request: ResumeRequest) -> str:
        device = request.data_disk_device
        detail = "no data disk"
        if device is not None:
            mount = self.path(DATA_MOUNT)
            mount.mkdir(parents=True, exist_ok=True)
            # The template's page cache may still hold blocks of the disk it was booted with.
            self.system.flush_block_device(device)
            self.system.mount(device, mount, fstype="ext4", bind=False)
            uuid = self.system.filesystem_uuid(device)
            fstab = [
                f"UUID={uuid} {DATA_MOUNT} ext4 defaults,nofail,x-systemd.device-timeout=60s 0 2"
            ]
            for source, target in (
                ("home-desk", "/home/desk"),
                ("var-lib-bureau", "/var/lib/bureau"),
            ):
                (mount / source).mkdir(exist_ok=True)
                self.path(target).mkdir(parents=True, exist_ok=True)
                self.system.mount(str(mount / source), self.path(target), fstype=None, bind=True)
                fstab.append(
                    f"{DATA_MOUNT}/{source} {target} none "
                    f"bind,nofail,x-systemd.requires-mounts-for={DATA_MOUNT} 0 0"
                )
            _append_lines(self.path("/etc/fstab"), fstab)
            detail = f"{device} mounted at {DATA_MOUNT}"
        self._prepare_dirs(request)
        return detail

    def _prepare_dirs(self, request: ResumeRequest) -> None:
        for guest_path, owner, mode in (
            ("/var/lib/bureau", ("bureau", "bureau"), 0o755),
            (AGENT_DATA_DIR, ("bureau", "bureau"), 0o700),
            ("/home/desk", ("desk", "desk"), 0o750),
            (WORKSPACE_DIR, ("desk", "desk"), 0o2770),
        ):
            path = self.path(guest_path)
            path.mkdir(parents=True, exist_ok=True)
            self.system.chown(path, *owner)
            path.chmod(mode)
        if request.ssh_authorized_keys:
            ssh = self.path("/home/desk/.ssh")
            ssh.mkdir(mode=0o700, exist_ok=True)
            keys = ssh / "authorized_keys"
            _write(keys, "".join(k.strip() + "\n" for k in request.ssh_authorized_keys), 0o600)
            self.system.chown(ssh, "desk", "desk")
            self.system.chown(keys, "desk", "desk")

    def _desk_files(self, request: ResumeRequest) -> str:
        etc = self.path("/etc/bureau")
        etc.mkdir(parents=True, exist_ok=True)
        self.system.chown(etc, "root", "bureau")
        etc.chmod(0o750)
        fixed = {"BUREAU_CONTROL_PLANE_CA_FILE": CA_FILE, "BUREAU_BOOTSTRAP_TOKEN_FILE": TOKEN_FILE}
        entries = [(name, fixed.get(name, value)) for name, value in request.agent_env]
        entries += [(name, value) for name, value in fixed.items() if name not in dict(entries)]
        env = [f"# Bureau agent settings for desk {request.desk_id} (written at pool resume)."]
        env += [env_line(name, value) for name, value in entries]
        _write(self.path(AGENT_ENV), "\n".join(env) + "\n", 0o640)
        self.system.chown(self.path(AGENT_ENV), "root", "bureau")
        _write(self.path(CA_FILE), request.control_plane_ca_pem.strip() + "\n", 0o644)
        token = self.path(TOKEN_FILE)
        _write(token, request.bootstrap_token.get_secret_value() + "\n", 0o600)
        self.system.chown(token, "bureau", "bureau")
        for leftover in (POOL_TOKEN_FILE, *USER_DATA_COPIES):
            with contextlib.suppress(OSError):
                self.path(leftover).unlink()
        return "agent.env, CA and bootstrap token written; pool token removed"


def _write(path: Path, text: str, mode: int) -> None:
    """Replace ``path`` atomically, created with ``mode`` (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    tmp.replace(path)


def _append_lines(path: Path, lines: list[str]) -> None:
    existing = path.read_text().splitlines() if path.exists() else []
    merged = existing + [line for line in lines if line not in existing]
    _write(path, "\n".join(merged) + "\n", 0o644)
