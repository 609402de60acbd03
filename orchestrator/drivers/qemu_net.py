"""Desk networking: QEMU user networking with ``restrict=on`` plus explicit forwards.

What the guest can reach (proved by tests/qemu/test_isolation.py):
- ``10.0.2.100:<control plane port>`` -> the control plane on the host (enrollment, agent dist);
- ``10.0.2.100:<port>`` for each operator-listed host forward (``BUREAU_QEMU_HOST_FORWARDS``);
- nothing else on the host: ``restrict=on`` drops every other packet, so the host's loopback
  services (PostgreSQL, Redis, other desks' agent ports) are unreachable;
- in ``passt`` network mode only, the internet through a second NIC served by passt started with
  ``--no-map-gw`` (the guest's gateway does not map to the host's loopback).
The control plane reaches the agent through ``hostfwd`` bound to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

from orchestrator.drivers.base import AGENT_PORT, TransientDriverError
from orchestrator.drivers.qemu_settings import GUEST_HOST_ADDRESS, HostForward

#: MAC of the restricted NIC; the image's systemd-networkd config matches it.
FORWARD_MAC = "52:54:00:b0:00:02"
EGRESS_MAC = "52:54:00:b0:00:01"
RELAY = Path(__file__).with_name("qemu_relay.py")


#: On the kernel command line of a desk with the passt egress NIC, the only one with a DNS server
#: to ask (passt's DHCP hands it out): the image starts systemd-resolved only then.
DNS_KERNEL_ARG = "bureau.dns=on"


def kernel_cmdline(image_cmdline: str, kernel_args: str, *, egress: bool) -> str:
    """The guest kernel's command line: the image's, the driver's settings, the network's."""
    parts = (image_cmdline, kernel_args, DNS_KERNEL_ARG if egress else "")
    return " ".join(part.strip() for part in parts if part.strip())


def relay_command(forward: HostForward) -> str:
    """The shell command QEMU runs per guest connection to ``forward`` (qemu_relay.py).

    ``-I -S``: isolated and without ``site`` (the relay needs only the standard library), so
    no .pth file of the venv is read: it starts in a few milliseconds instead of ~20 ms, on the
    path of every enrollment and provider call."""
    return f"{sys.executable} -I -S {RELAY} {forward.host} {forward.port}"


def _guestfwd(forward: HostForward) -> str:
    command = relay_command(forward)
    return (
        f"guestfwd=tcp:{GUEST_HOST_ADDRESS}:{forward.guest_port}-cmd:{command.replace(',', ',,')}"
    )


def netdev_args(
    agent_host_port: int, forwards: list[HostForward], passt_socket: str | None
) -> list[str]:
    """QEMU arguments for the desk's NICs."""
    options = [
        "user", "id=fwd", "restrict=on", "net=10.0.2.0/24",
        f"hostfwd=tcp:127.0.0.1:{agent_host_port}-:{AGENT_PORT}",
        *(_guestfwd(forward) for forward in forwards),
    ]  # fmt: skip
    args = [
        "-netdev", ",".join(options),
        "-device", f"virtio-net-pci,netdev=fwd,mac={FORWARD_MAC},romfile=",
    ]  # fmt: skip
    if passt_socket is not None:
        args += [
            "-netdev", f"stream,id=egress,server=off,addr.type=unix,addr.path={passt_socket}",
            "-device", f"virtio-net-pci,netdev=egress,mac={EGRESS_MAC},romfile=",
        ]  # fmt: skip
    return args


def passt_dir(desk_id: str, desk_path: Path) -> Path:
    """Where passt keeps its socket and pidfile for one desk.

    As root, passt drops to ``nobody``: it then needs a directory of its own that ``nobody`` can
    reach (data directories are often 0700), so it gets one under /run. Otherwise the desk's own
    directory is fine.
    """
    if os.geteuid() != 0:
        return desk_path
    return Path("/run/bureau-qemu") / desk_id


def prepare_passt_dir(directory: Path) -> None:
    if os.geteuid() != 0:
        return
    directory.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    directory.mkdir(mode=0o755, exist_ok=True)
    nobody = pwd.getpwnam("nobody")
    os.chown(directory, nobody.pw_uid, nobody.pw_gid)


def start_passt(socket_path: Path, pid_path: Path) -> None:
    """Start passt for one desk (daemonizes; ``--one-off``: exits when QEMU disconnects)."""
    cmd = [
        "passt", "--no-map-gw", "--one-off", "--quiet",
        "--socket", str(socket_path), "--pid", str(pid_path),
    ]  # fmt: skip
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TransientDriverError(f"cannot start passt: {exc}") from exc
    if result.returncode != 0:
        raise TransientDriverError(
            f"passt failed: {(result.stderr or result.stdout).strip()[-300:]}"
        )
