"""The pool template's user-data: a desk with no desk, no user, no token and no secret.

It reuses the cold path's pieces (cloud_init's users, units, sudoers and metadata guard, rendered
from placeholder settings) and leaves out everything desk-specific: no agent.env, no bootstrap
token, no control plane CA, no bootstrap script. Instead it starts ``python -m bureau_agent.pool``
(as root), which waits for a resume carrying the desk's settings. The only credential it holds is
the pool token (per template, random, no user's secret), which the resumer deletes.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from cloud_init.render import build_document
from cloud_init.settings import AgentBootConfig, AgentDist, DeskBootSettings

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
_PLACEHOLDER_CA = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"

POOL_UNIT_TEXT = """[Unit]
Description=Bureau pooled agent (unassigned: waits for a resume)
Wants=network-online.target
After=network-online.target bureau-metadata-block.service

[Service]
Type=simple
ExecStart=/opt/bureau/venv/bin/python -m bureau_agent.pool --port {port}
Restart=no
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


def template_document(
    pool_token: str, agent_port: int = 7443, *, python: str = "python3.11"
) -> dict[str, Any]:
    """The template's cloud-config as data.

    It carries the control plane's copy of ``bureau_agent.pool`` into the image's venv, so a pool
    works with an image built before this module existed (the rest of the agent is the image's).
    """
    cold = build_document(_placeholder_settings(agent_port))
    files = [
        copy.deepcopy(entry) for entry in cold["write_files"] if entry["path"] not in _DESK_FILES
    ]
    files += [
        {"path": POOL_TOKEN_PATH, "content": pool_token + "\n", "permissions": "0600"},
        {
            "path": f"/etc/systemd/system/{POOL_UNIT}",
            "content": POOL_UNIT_TEXT.format(port=agent_port),
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


def template_user_data(
    pool_token: str, agent_port: int = 7443, *, python: str = "python3.11"
) -> str:
    return "#cloud-config\n" + yaml.safe_dump(
        template_document(pool_token, agent_port, python=python), sort_keys=False
    )
