"""Render one desk's ``#cloud-config``: built as data, dumped as YAML, checked, maybe compressed."""

from __future__ import annotations

import base64
import gzip
import re
from dataclasses import dataclass
from typing import Any

import yaml

from cloud_init.checks import HEADER, MAX_PLAIN_BYTES, UserDataError, check_document
from cloud_init.settings import DeskBootSettings
from cloud_init.templates import render_template

VENV = "/opt/bureau/venv"
AGENT_DATA_DIR = "/var/lib/bureau/agent"
WORKSPACE_DIR = "/home/desk/workspace"
BOOTSTRAP_SCRIPT = "/usr/local/sbin/bureau-bootstrap"
#: cloud-init's copies of the user-data, removed once the agent has enrolled.
USER_DATA_COPIES = (
    "/var/lib/cloud/instance/user-data.txt",
    "/var/lib/cloud/instance/user-data.txt.i",
    "/var/lib/cloud/instance/cloud-config.txt",
)
#: Fixed ids, so files on a data disk keep their owners when a new server mounts it.
BUREAU_UID = 901
DESK_UID = 1001

_DEVICE = re.compile(r"^/dev/[A-Za-z0-9/_.*:-]+$")
_PROVIDER_ENDPOINT_SCHEMES = ("https://", "http://")


@dataclass(frozen=True)
class RenderedUserData:
    """User-data ready for a VM: ``text`` is the ``#cloud-config`` itself, or, when ``gzipped``,
    its gzip compressed form in base64 (cloud-init and Hetzner's datasource decode it)."""

    text: str
    gzipped: bool

    def plain_text(self) -> str:
        """The ``#cloud-config`` document, decompressed when needed (for tests and debugging)."""
        if not self.gzipped:
            return self.text
        return gzip.decompress(base64.b64decode(self.text)).decode("utf-8")


def render_desk(settings: DeskBootSettings) -> RenderedUserData:
    """The first-boot configuration of one desk. Pure: no I/O, same input -> same output."""
    _check_settings(settings)
    text = HEADER + "\n" + _dump(build_document(settings))
    check_document(text)
    raw = text.encode("utf-8")
    if len(raw) <= MAX_PLAIN_BYTES:
        return RenderedUserData(text=text, gzipped=False)
    packed = base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")
    if len(packed) > MAX_PLAIN_BYTES:
        raise UserDataError(
            f"user-data is {len(packed)} bytes even gzip+base64, above {MAX_PLAIN_BYTES}"
        )
    return RenderedUserData(text=packed, gzipped=True)


def build_document(settings: DeskBootSettings) -> dict[str, Any]:
    """The cloud-config as data (top-level keys limited by ``checks.ALLOWED_TOP_LEVEL_KEYS``)."""
    ssh_enabled = bool(settings.ssh_authorized_keys)
    context = _template_context(settings)
    desk_user: dict[str, Any] = {
        "name": "desk",
        "uid": DESK_UID,
        "gecos": "Bureau desk (runs tool commands)",
        "homedir": "/home/desk",
        "shell": "/bin/bash",
        "lock_passwd": True,
    }
    if ssh_enabled:
        desk_user["ssh_authorized_keys"] = list(settings.ssh_authorized_keys)
    return {
        "hostname": settings.hostname,
        "preserve_hostname": False,
        "manage_etc_hosts": True,
        "users": [
            desk_user,
            {
                "name": "bureau",
                "uid": BUREAU_UID,
                "gecos": "Bureau agent",
                "system": True,
                "homedir": "/var/lib/bureau",
                "no_create_home": True,
                "shell": "/usr/sbin/nologin",
                "lock_passwd": True,
                "groups": ["desk"],
            },
        ],
        "ssh_pwauth": False,
        "disable_root": True,
        "write_files": _write_files(settings, context),
        "runcmd": [[BOOTSTRAP_SCRIPT]],
        "final_message": f"bureau: desk {settings.desk_id} first boot done after $UPTIME s",
    }


def agent_env(settings: DeskBootSettings) -> list[tuple[str, str]]:
    """The agent's non-secret settings, in file order (Grist-style names, DESIGN.md §5)."""
    agent = settings.agent
    env: list[tuple[str, str]] = [
        ("BUREAU_DESK_ID", settings.desk_id),
        ("BUREAU_CONTROL_PLANE_URL", settings.control_plane_url),
        ("BUREAU_CONTROL_PLANE_CA_FILE", "/etc/bureau/control-plane-ca.pem"),
        ("BUREAU_BOOTSTRAP_TOKEN_FILE", "/etc/bureau/bootstrap-token"),
        ("BUREAU_AGENT_PORT", str(settings.agent_port)),
        ("BUREAU_AGENT_DATA_DIR", AGENT_DATA_DIR),
        ("BUREAU_WORKSPACE_DIR", WORKSPACE_DIR),
        ("BUREAU_TOOL_USER", "desk"),
        ("BUREAU_MEMORY", "on" if agent.memory else "off"),
        ("ASSISTANT_PROVIDER", agent.provider),
        ("ASSISTANT_MODEL", agent.model),
    ]
    optional = [
        ("ASSISTANT_CHAT_COMPLETION_ENDPOINT", agent.endpoint),
        ("ASSISTANT_LONGER_CONTEXT_MODEL", agent.longer_context_model),
        ("ASSISTANT_MAX_TOOL_CALLS", str(agent.max_tool_calls)),
        ("EMBEDDINGS_PROVIDER", agent.embeddings_provider),
        ("EMBEDDINGS_MODEL", agent.embeddings_model),
        ("EMBEDDINGS_ENDPOINT", agent.embeddings_endpoint),
    ]
    env.extend((name, value) for name, value in optional if value)
    return env


def _template_context(settings: DeskBootSettings) -> dict[str, Any]:
    return {
        "desk_id": settings.desk_id,
        "env": agent_env(settings),
        "venv": VENV,
        "dist": settings.agent_dist,
        "dist_url": settings.control_plane_url.rstrip("/") + "/v1/agent/dist",
        "data_disk": settings.data_disk_device,
        "agent_data_dir": AGENT_DATA_DIR,
        "workspace_dir": WORKSPACE_DIR,
        "ssh_enabled": bool(settings.ssh_authorized_keys),
        "user_data_copies": USER_DATA_COPIES,
    }


def _write_files(settings: DeskBootSettings, context: dict[str, Any]) -> list[dict[str, Any]]:
    def file(path: str, content: str, permissions: str, owner: str = "root:root") -> dict[str, Any]:
        entry: dict[str, Any] = {
            "path": path,
            "content": content,
            "owner": owner,
            "permissions": permissions,
        }
        if owner != "root:root":
            # Users are created after write_files runs; deferred files are written in the final
            # stage, once `bureau` exists.
            entry["defer"] = True
        return entry

    ca = settings.control_plane_ca_pem.strip() + "\n"
    return [
        file("/etc/bureau/control-plane-ca.pem", ca, "0644"),
        file(
            "/etc/bureau/agent.env",
            render_template("agent.env.j2", **context),
            "0640",
            owner="root:bureau",
        ),
        file(
            "/etc/bureau/bootstrap-token",
            settings.bootstrap_token + "\n",
            "0600",
            owner="bureau:bureau",
        ),
        file(
            "/etc/bureau/metadata-block.nft",
            render_template("metadata-block.nft.j2", **context),
            "0644",
        ),
        file(
            "/etc/systemd/system/bureau-metadata-block.service",
            render_template("bureau-metadata-block.service.j2", **context),
            "0644",
        ),
        file(
            "/etc/systemd/system/bureau-agent.service",
            render_template("bureau-agent.service.j2", **context),
            "0644",
        ),
        file(
            "/etc/systemd/system/bureau-scrub.path",
            render_template("bureau-scrub.path.j2", **context),
            "0644",
        ),
        file(
            "/etc/systemd/system/bureau-scrub.service",
            render_template("bureau-scrub.service.j2", **context),
            "0644",
        ),
        file("/etc/sudoers.d/bureau-agent", render_template("sudoers.j2", **context), "0440"),
        file(BOOTSTRAP_SCRIPT, render_template("bootstrap.sh.j2", **context), "0755"),
    ]


def _check_settings(settings: DeskBootSettings) -> None:
    if not settings.control_plane_url.startswith(_PROVIDER_ENDPOINT_SCHEMES[0]):
        raise UserDataError("control_plane_url must be https:// (the VM pins the control plane CA)")
    if "BEGIN CERTIFICATE" not in settings.control_plane_ca_pem:
        raise UserDataError("control_plane_ca_pem must be a PEM certificate")
    if settings.data_disk_device is not None and not _DEVICE.match(settings.data_disk_device):
        raise UserDataError("data_disk_device must be a /dev path (a glob is allowed)")
    for name, value in (
        ("endpoint", settings.agent.endpoint),
        ("embeddings_endpoint", settings.agent.embeddings_endpoint),
    ):
        if value is not None and not value.startswith(_PROVIDER_ENDPOINT_SCHEMES):
            raise UserDataError(f"agent.{name} must be an http(s) URL")
    for key in settings.ssh_authorized_keys:
        if "\n" in key or not key.strip():
            raise UserDataError("each ssh_authorized_keys entry must be one non-empty line")


_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[valid-type,misc]
    """Block literals for multi-line strings: readable golden files and console output."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # libyaml's emitter (CSafeDumper) is ~20x faster than the pure-Python one; same output.
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_representer)


def _dump(document: dict[str, Any]) -> str:
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=1000,
        allow_unicode=False,
    )
