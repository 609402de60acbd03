"""User-data of a Hetzner pool server: the cold path's first boot, minus the desk.

Built from the same pieces as a desk's (cloud_init.render.build_document of placeholder settings,
like the qemu template's seed in seed.py): users, sudoers, metadata guard, the agent's units and the
bootstrap script that installs the agent wheel from the control plane (sha256-checked, TLS pinned
to the control plane CA). Left out: agent.env, the bootstrap token and the enrollment; the
bootstrap script ends by starting ``bureau-pool.service`` instead of the agent. That unit runs
``python -m bureau_agent.pool.identity``: it enrolls the slot's pool identity with the pool token
and waits, over mutual TLS, for a resume (orchestrator/pool/identity.py).

What it carries: the slot id, the control plane's URL and CA certificate (public), the agent
wheel's name and sha256 (public) and the slot's single-use pool token (random, not a secret of
any user, burnt when the server enrolls its pool identity). No desk id, no user, no bootstrap
token, no provider key: ``tests/pool/test_hcloud_pool.py`` checks it.
"""

from __future__ import annotations

import copy
from typing import Any

from cloud_init.checks import HEADER, check_document
from cloud_init.render import BOOTSTRAP_SCRIPT, build_document
from cloud_init.render import _dump as dump_yaml
from cloud_init.settings import AgentBootConfig, AgentDist, DeskBootSettings
from orchestrator.pool.seed import POOL_TOKEN_PATH, POOL_UNIT

READY_LINE = "bureau-pool: hetzner pool server booted"
#: Desk files of the cold path that never appear on a pool server.
_DESK_FILES = {"/etc/bureau/agent.env", "/etc/bureau/bootstrap-token"}
_PLACEHOLDER_TOKEN = "placeholder-" + "0" * 32

UNIT = """[Unit]
Description=Bureau pooled agent (unassigned: enrolls its pool identity, waits for a resume)
Wants=network-online.target
After=network-online.target bureau-metadata-block.service

[Service]
Type=simple
ExecStart=/opt/bureau/venv/bin/python -m bureau_agent.pool.identity --port {port} \\
  --slot-id {slot_id} --control-plane-url {control_plane_url}
Restart=on-failure
RestartSec=10
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
"""

_START_POOL = """start_pool() {
    # --no-block: this script may run before sysinit.target (cloud-init's init stage); units
    # written by this first boot and never loaded are read from disk on first use (no reload).
    systemctl --no-reload enable bureau-scrub.path
    systemctl --no-block start bureau-scrub.path
    systemctl --no-block start bureau-pool.service
    say "unassigned pool agent start queued"
}

# --- main ---"""


def pool_bootstrap(cold_script: str) -> str:
    """The cold bootstrap script with its last step, ``start_agent``, replaced by ``start_pool``.

    Raises ``ValueError`` if the script's shape changed (then this function must follow it)."""
    head, marker, main = cold_script.rpartition("# --- main ---")
    steps = main.strip().splitlines()
    if not marker or not steps or steps[-1].strip() != "start_agent":
        raise ValueError("the cold bootstrap script no longer ends with start_agent")
    if any(step.strip() == "mount_data_disk" for step in steps) and "mount_data_disk()" not in head:
        raise ValueError("unexpected bootstrap script")
    return head + _START_POOL + "\n" + "\n".join([*steps[:-1], "start_pool"]) + "\n"


def pool_server_document(
    *,
    slot_id: str,
    pool_token: str,
    control_plane_url: str,
    control_plane_ca_pem: str,
    agent_dist: AgentDist,
    agent_port: int = 7443,
) -> dict[str, Any]:
    placeholder = DeskBootSettings(
        desk_id="pool",
        hostname="bureau-pool",
        control_plane_url=control_plane_url,
        control_plane_ca_pem=control_plane_ca_pem,
        bootstrap_token=_PLACEHOLDER_TOKEN,
        agent=AgentBootConfig(provider="openai", model="placeholder"),
        agent_dist=agent_dist,
        agent_port=agent_port,
        data_disk_device=None,  # the resume mounts the desk's volume
    )
    cold = build_document(placeholder)
    files = []
    for entry in cold["write_files"]:
        if entry["path"] in _DESK_FILES:
            continue
        entry = copy.deepcopy(entry)
        if entry["path"] == BOOTSTRAP_SCRIPT:
            entry["content"] = pool_bootstrap(entry["content"])
        files.append(entry)
    files += [
        {
            "path": POOL_TOKEN_PATH,
            "content": pool_token + "\n",
            "owner": "root:root",
            "permissions": "0600",
        },
        {
            "path": f"/etc/systemd/system/{POOL_UNIT}",
            "content": UNIT.format(
                port=agent_port, slot_id=slot_id, control_plane_url=control_plane_url
            ),
            "owner": "root:root",
            "permissions": "0644",
        },
    ]
    return {
        "hostname": "bureau-pool",
        "preserve_hostname": False,
        "manage_etc_hosts": True,
        "users": cold["users"],
        "ssh_pwauth": False,
        "disable_root": True,
        "write_files": files,
        "runcmd": [[BOOTSTRAP_SCRIPT]],
        "final_message": READY_LINE + " after $UPTIME s",
    }


def pool_server_user_data(**kwargs: Any) -> str:
    """The pool server's ``#cloud-config`` (checked like a desk's; small enough to stay plain)."""
    text = HEADER + "\n" + dump_yaml(pool_server_document(**kwargs))
    check_document(text)
    return text
