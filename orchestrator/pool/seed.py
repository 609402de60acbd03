"""The pool template's user-data: a desk with no desk, no user, no token and no secret.

It reuses the cold path's pieces (cloud_init's users, units, sudoers and metadata guard, rendered
from placeholder settings) and leaves out everything desk-specific: no agent.env, no bootstrap
token, no control plane CA, no bootstrap script. Instead it starts ``python -m bureau_agent.pool``
(as root), which waits for a resume carrying the desk's settings.

No credential at all: the pool token that authorises a resume is per clone and rides in the last
block of the clone's own copy of this seed (``write_token_block``; read by the guest with
``O_DIRECT`` at resume, bureau_agent/pool/seed_token.py), never in the user-data. cloud-init keeps
copies of the user-data on the root disk, and the template's disk, RAM and seed are shared by
every clone: a token there was readable by root inside every assigned desk (issue 9). The
template's own seed ends in a zero block (no token: it refuses every resume); the control plane
zeroes a clone's block again right after its resume, so the seed an assigned desk keeps (and
cold-boots from later) holds no token.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import yaml

from cloud_init.render import build_document
from cloud_init.settings import AgentBootConfig, AgentDist, DeskBootSettings

#: Where a Hetzner pool server's user-data puts its pool-identity token (hcloud_seed.py); a qemu
#: template has no such file.
POOL_TOKEN_PATH = "/etc/bureau/pool-token"  # noqa: S105 - a path
POOL_UNIT = "bureau-pool.service"
READY_LINE = "bureau-pool: template booted"
#: Files of the cold path that carry desk data or trigger enrollment: never in a template.
_DESK_FILES = {
    "/etc/bureau/agent.env",
    "/etc/bureau/bootstrap-token",
    "/etc/bureau/control-plane-ca.pem",
    "/usr/local/sbin/bureau-bootstrap",
}
#: The last block of a pool seed (layout shared with bureau_agent/pool/seed_token.py).
TOKEN_BLOCK = 4096
TOKEN_MAGIC = b"BUREAU-POOL-TOKEN/1\n"
#: The seed disk as the guest sees it (root = vda, data = vdb, seed = vdc: machine.pool_command).
GUEST_SEED_DEVICE = "/dev/vdc"
_PLACEHOLDER_CA = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"

POOL_UNIT_TEXT = """[Unit]
Description=Bureau pooled agent (unassigned: waits for a resume)
Wants=network-online.target
After=network-online.target bureau-metadata-block.service

[Service]
Type=simple
ExecStart=/opt/bureau/venv/bin/python -m bureau_agent.pool --port {port} --seed-device {seed}
Restart=no
# Like bureau-agent.service: a desk waits for this process (resume, enrollment, the agent child).
CPUWeight=1000
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
"""


def _placeholder_settings(agent_port: int) -> DeskBootSettings:
    return DeskBootSettings(
        desk_id="pool",
        hostname="bureau-pool",
        control_plane_url="https://10.0.2.100:1",
        control_plane_ca_pem=_PLACEHOLDER_CA,
        bootstrap_token="placeholder-" + "0" * 32,
        agent=AgentBootConfig(provider="openai", model="placeholder"),
        agent_dist=AgentDist(version="0", filename="placeholder.whl", sha256="0" * 64),
        agent_port=agent_port,
        data_disk_device="/dev/vdb",
    )


@functools.cache
def pool_agent_sources() -> dict[str, str]:
    """``bureau_agent/pool/*.py`` as this process found them first (file name -> source).

    Read once: the template key must not move while the control plane runs.
    """
    import bureau_agent.pool

    package = Path(bureau_agent.pool.__file__).parent
    return {path.name: path.read_text() for path in sorted(package.glob("*.py"))}


def template_document(agent_port: int = 7443, *, python: str = "python3.11") -> dict[str, Any]:
    """The template's cloud-config as data.

    It carries the control plane's copy of ``bureau_agent.pool`` into the image's venv, so a pool
    works with an image built before this module existed (the rest of the agent is the image's).
    """
    cold = build_document(_placeholder_settings(agent_port))
    files = [
        copy.deepcopy(entry) for entry in cold["write_files"] if entry["path"] not in _DESK_FILES
    ]
    files += [
        {
            "path": f"/etc/systemd/system/{POOL_UNIT}",
            "content": POOL_UNIT_TEXT.format(port=agent_port, seed=GUEST_SEED_DEVICE),
            "permissions": "0644",
        },
    ]
    site = f"/opt/bureau/venv/lib/{python}/site-packages/bureau_agent/pool"
    files += [
        {"path": f"{site}/{name}", "content": source, "permissions": "0644"}
        for name, source in pool_agent_sources().items()
    ]
    users = copy.deepcopy(cold["users"])
    for user in users:
        user.pop("ssh_authorized_keys", None)
    return {
        "hostname": "bureau-pool",
        "preserve_hostname": True,
        "users": users,
        "ssh_pwauth": False,
        "disable_root": True,
        "write_files": files,
        "runcmd": [
            ["install", "-d", "-o", "root", "-g", "bureau", "-m", "0750", "/etc/bureau"],
            ["nft", "-f", "/etc/bureau/metadata-block.nft"],
            ["systemctl", "enable", "bureau-metadata-block.service"],
            ["systemctl", "daemon-reload"],
            ["systemctl", "start", "--no-block", POOL_UNIT],
        ],
        "final_message": READY_LINE + " after $UPTIME s",
    }


def template_user_data(agent_port: int = 7443, *, python: str = "python3.11") -> str:
    return "#cloud-config\n" + yaml.safe_dump(
        template_document(agent_port, python=python), sort_keys=False
    )


def token_block(token: str | None) -> bytes:
    """The last block of a pool seed: ``TOKEN_MAGIC`` + token + newline, or zeros (no token)."""
    if token is None:
        return bytes(TOKEN_BLOCK)
    body = TOKEN_MAGIC + token.encode("ascii") + b"\n"
    if len(body) > TOKEN_BLOCK or not token or "\n" in token:
        raise ValueError("a pool token is one short line of ASCII")
    return body.ljust(TOKEN_BLOCK, b"\0")


def append_token_block(seed: Path) -> None:
    """Give a freshly written seed ISO its (zero) token block: the template's seed."""
    size = seed.stat().st_size
    if size % 512:
        raise ValueError(f"{seed} is not a whole number of sectors ({size} bytes)")
    with seed.open("ab") as handle:
        handle.write(token_block(None))


def write_token_block(seed: Path, token: str | None) -> None:
    """Overwrite the last block of ``seed`` in place (a clone's copy: its token; None: zeros),
    synced to disk, so QEMU reading the file under a running guest sees the new bytes."""
    fd = os.open(seed, os.O_WRONLY)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        if size < TOKEN_BLOCK:
            raise ValueError(f"{seed} has no token block")
        os.pwrite(fd, token_block(token), size - TOKEN_BLOCK)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_token_block(seed: Path) -> str:
    """The token in ``seed``'s last block ("" when none): for tests and the restart scrub."""
    data = seed.read_bytes()[-TOKEN_BLOCK:]
    if not data.startswith(TOKEN_MAGIC):
        return ""
    return data[len(TOKEN_MAGIC) :].partition(b"\n")[0].decode("ascii", "replace")
