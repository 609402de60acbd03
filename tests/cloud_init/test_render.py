"""What a desk's first boot does, read from the rendered document."""

from __future__ import annotations

import base64
import gzip
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bureau_agent.config import load_config
from cloud_init import AgentBootConfig, AgentDist, DeskBootSettings, UserDataError, render_desk
from cloud_init.checks import ALLOWED_TOP_LEVEL_KEYS, MAX_PLAIN_BYTES, check_document
from tests.cloud_init.desks import (
    SSH_KEY,
    TEST_TOKEN,
    custom_endpoint_desk,
    hetzner_desk,
    minimal_desk,
)


def _doc(settings: DeskBootSettings) -> dict[str, Any]:
    rendered = render_desk(settings)
    data = yaml.safe_load(rendered.plain_text())
    assert isinstance(data, dict)
    return data


def _file(doc: dict[str, Any], path: str) -> dict[str, Any]:
    matches = [entry for entry in doc["write_files"] if entry["path"] == path]
    assert len(matches) == 1, path
    return matches[0]


def _env(doc: dict[str, Any]) -> dict[str, str]:
    lines = _file(doc, "/etc/bureau/agent.env")["content"].splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {name: value for name, value in pairs}


def _user(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(user for user in doc["users"] if user["name"] == name)


def test_document_starts_with_cloud_config_header() -> None:
    assert render_desk(minimal_desk()).text.startswith("#cloud-config\n")


def test_document_uses_only_allowed_top_level_keys() -> None:
    assert set(_doc(hetzner_desk())) <= ALLOWED_TOP_LEVEL_KEYS


def test_rendering_is_deterministic() -> None:
    assert render_desk(hetzner_desk()) == render_desk(hetzner_desk())


def test_bureau_is_a_system_user_and_desk_is_unprivileged() -> None:
    doc = _doc(minimal_desk())
    bureau, desk = _user(doc, "bureau"), _user(doc, "desk")
    assert bureau["system"] is True
    assert bureau["shell"] == "/usr/sbin/nologin"
    assert "sudo" not in desk.get("groups", [])
    assert desk["lock_passwd"] is True
    assert desk["homedir"] == "/home/desk"


def test_agent_env_carries_the_non_secret_agent_settings() -> None:
    env = _env(_doc(hetzner_desk()))
    assert env["BUREAU_DESK_ID"] == "dsk_hetzner02"
    assert env["BUREAU_CONTROL_PLANE_URL"] == "https://bureau.example.com"
    assert env["BUREAU_AGENT_PORT"] == "7443"
    assert env["ASSISTANT_PROVIDER"] == "openai"
    assert env["ASSISTANT_MODEL"] == "gpt-4.1-mini"
    assert env["ASSISTANT_LONGER_CONTEXT_MODEL"] == "gpt-4.1"
    assert env["ASSISTANT_MAX_TOOL_CALLS"] == "25"
    assert env["EMBEDDINGS_PROVIDER"] == "openai"
    assert env["EMBEDDINGS_MODEL"] == "text-embedding-3-small"
    assert env["BUREAU_MEMORY"] == "on"
    assert env["BUREAU_AGENT_DATA_DIR"] == "/var/lib/bureau/agent"
    assert env["BUREAU_TOOL_USER"] == "desk"
    assert not any(name.endswith("API_KEY") for name in env)


def test_agent_env_quotes_values_with_shell_characters() -> None:
    env = _env(_doc(custom_endpoint_desk()))
    assert env["ASSISTANT_CHAT_COMPLETION_ENDPOINT"] == (
        '"http://10.0.2.2:11434/v1/chat/completions?api-version=2024-10-21&x=$HOME"'
    )
    assert env["BUREAU_MEMORY"] == "off"


@pytest.mark.parametrize("factory", [minimal_desk, hetzner_desk, custom_endpoint_desk])
def test_agent_reads_back_the_env_file_it_is_given(
    factory: Callable[[], DeskBootSettings], tmp_path: Path
) -> None:
    settings = factory()
    env_file = tmp_path / "agent.env"
    env_file.write_text(_file(_doc(settings), "/etc/bureau/agent.env")["content"])
    config = load_config(env_file)
    assert config.desk_id == settings.desk_id
    assert config.control_plane_url == settings.control_plane_url
    assert config.assistant_provider == settings.agent.provider
    assert config.assistant_model == settings.agent.model
    assert config.assistant_chat_completion_endpoint == settings.agent.endpoint
    assert config.assistant_max_tool_calls == settings.agent.max_tool_calls
    assert config.embeddings_model == settings.agent.embeddings_model
    assert config.memory == ("on" if settings.agent.memory else "off")
    assert config.data_dir == Path("/var/lib/bureau/agent")
    assert config.tool_user == "desk"
    assert config.assistant_api_key is None


def test_dotenv_interpolation_in_a_value_is_refused() -> None:
    agent = minimal_desk().agent.model_copy(update={"model": "m${HOME}"})
    with pytest.raises(ValueError, match="interpolation"):
        render_desk(minimal_desk(agent=agent))


def test_agent_env_is_readable_by_the_agent_only() -> None:
    entry = _file(_doc(minimal_desk()), "/etc/bureau/agent.env")
    assert (entry["owner"], entry["permissions"], entry["defer"]) == ("root:bureau", "0640", True)


def test_bootstrap_token_file_is_0600_and_owned_by_bureau() -> None:
    entry = _file(_doc(minimal_desk()), "/etc/bureau/bootstrap-token")
    assert entry["content"] == TEST_TOKEN + "\n"
    assert (entry["owner"], entry["permissions"]) == ("bureau:bureau", "0600")
    assert entry["defer"] is True  # users exist only after write_files' first pass


def test_control_plane_ca_is_written_for_pinning() -> None:
    entry = _file(_doc(minimal_desk()), "/etc/bureau/control-plane-ca.pem")
    assert entry["content"].startswith("-----BEGIN CERTIFICATE-----")


def test_agent_unit_runs_as_bureau_with_restart_on_failure() -> None:
    unit = _file(_doc(minimal_desk()), "/etc/systemd/system/bureau-agent.service")["content"]
    assert "User=bureau\n" in unit
    command = "/opt/bureau/venv/bin/python -m bureau_agent.desk --config /etc/bureau/agent.env"
    assert f"ExecStart={command}\n" in unit
    assert "Restart=on-failure\n" in unit
    assert "AmbientCapabilities" not in unit


def test_tools_run_as_desk_through_a_sudo_rule_limited_to_desk() -> None:
    rule = _file(_doc(minimal_desk()), "/etc/sudoers.d/bureau-agent")
    assert rule["permissions"] == "0440"
    assert "bureau ALL=(desk:desk) NOPASSWD: ALL" in rule["content"]
    assert "root" not in rule["content"].split("NOPASSWD")[0]


def test_metadata_service_is_blocked_for_non_root_users() -> None:
    rules = _file(_doc(minimal_desk()), "/etc/bureau/metadata-block.nft")["content"]
    assert "ip daddr 169.254.169.254 meta skuid != 0 reject" in rules


def test_ssh_is_closed_without_keys() -> None:
    doc = _doc(minimal_desk())
    rules = _file(doc, "/etc/bureau/metadata-block.nft")["content"]
    assert "tcp dport 22 drop" in rules
    assert "SSH_ENABLED=no" in _file(doc, "/usr/local/sbin/bureau-bootstrap")["content"]
    assert "ssh_authorized_keys" not in _user(doc, "desk")
    assert doc["ssh_pwauth"] is False
    assert doc["disable_root"] is True


def test_ssh_opens_for_the_desk_user_with_keys() -> None:
    doc = _doc(hetzner_desk())
    assert _user(doc, "desk")["ssh_authorized_keys"] == [SSH_KEY]
    assert "tcp dport 22" not in _file(doc, "/etc/bureau/metadata-block.nft")["content"]
    assert "SSH_ENABLED=yes" in _file(doc, "/usr/local/sbin/bureau-bootstrap")["content"]


def test_agent_is_fetched_from_control_plane_with_pinned_ca_and_sha256() -> None:
    script = _file(_doc(minimal_desk()), "/usr/local/sbin/bureau-bootstrap")["content"]
    assert "DIST_URL=https://10.0.2.2:8443/v1/agent/dist\n" in script
    assert "WHEEL=bureau_agent-0.1.0-py3-none-any.whl\n" in script
    assert f"WHEEL_SHA256={'5' * 64}\n" in script
    assert '--cacert "$CA"' in script
    assert "sha256sum --check" in script
    assert '"$VENV/bin/bureau-agent" --version' in script


def test_trailing_slash_of_control_plane_url_is_not_doubled() -> None:
    script = _file(_doc(custom_endpoint_desk()), "/usr/local/sbin/bureau-bootstrap")["content"]
    assert "DIST_URL=https://10.0.2.2:8443/v1/agent/dist\n" in script


def test_data_disk_is_mounted_when_given() -> None:
    doc = _doc(hetzner_desk())
    script = _file(doc, "/usr/local/sbin/bureau-bootstrap")["content"]
    assert "DATA_DISK='/dev/disk/by-id/scsi-0HC_Volume_*'\n" in script
    unit = _file(doc, "/etc/systemd/system/bureau-agent.service")["content"]
    assert "RequiresMountsFor=/var/lib/bureau/agent /home/desk/workspace" in unit


def test_no_data_disk_means_no_mount() -> None:
    doc = _doc(minimal_desk())
    assert "DATA_DISK=''\n" in _file(doc, "/usr/local/sbin/bureau-bootstrap")["content"]
    unit = _file(doc, "/etc/systemd/system/bureau-agent.service")["content"]
    assert "RequiresMountsFor" not in unit


def test_first_boot_runs_the_bootstrap_script() -> None:
    doc = _doc(minimal_desk())
    assert doc["runcmd"] == [["/usr/local/sbin/bureau-bootstrap"]]
    assert _file(doc, "/usr/local/sbin/bureau-bootstrap")["permissions"] == "0755"


def test_used_token_and_user_data_copies_are_scrubbed_after_enrollment() -> None:
    doc = _doc(minimal_desk())
    path_unit = _file(doc, "/etc/systemd/system/bureau-scrub.path")["content"]
    assert "PathExists=/var/lib/bureau/agent/enrolled" in path_unit
    service = _file(doc, "/etc/systemd/system/bureau-scrub.service")["content"]
    assert "/etc/bureau/bootstrap-token" in service
    assert "/var/lib/cloud/instance/user-data.txt" in service


def test_large_user_data_is_gzipped_and_base64_encoded() -> None:
    keys = tuple(f"{SSH_KEY}{i}" for i in range(400))
    rendered = render_desk(hetzner_desk(ssh_authorized_keys=keys))
    assert rendered.gzipped
    assert len(rendered.text) <= MAX_PLAIN_BYTES
    plain = gzip.decompress(base64.b64decode(rendered.text)).decode()
    assert plain.startswith("#cloud-config\n")
    assert len(plain.encode()) > MAX_PLAIN_BYTES


def test_small_user_data_stays_plain() -> None:
    rendered = render_desk(minimal_desk())
    assert not rendered.gzipped
    assert len(rendered.text.encode()) < MAX_PLAIN_BYTES


def test_settings_refuse_an_api_key_field() -> None:
    with pytest.raises(ValidationError, match="api_key"):
        minimal_desk(api_key="sk-ant-api03-" + "a" * 40)


def test_settings_have_no_field_that_could_hold_a_key() -> None:
    names = set(DeskBootSettings.model_fields)
    names |= {f"agent.{name}" for name in AgentBootConfig.model_fields}
    names |= {f"agent_dist.{name}" for name in AgentDist.model_fields}
    assert not [name for name in names if "key" in name and name != "ssh_authorized_keys"]


@pytest.mark.parametrize(
    "leak",
    [
        "sk-ant-api03-" + "A" * 40,
        "sk-or-v1-" + "b" * 48,
        "sk-proj-" + "C" * 40,
        "sk-" + "d" * 48,
    ],
)
def test_key_shaped_string_in_any_field_is_refused(leak: str) -> None:
    with pytest.raises(UserDataError, match="provider key"):
        render_desk(minimal_desk(agent=minimal_desk().agent.model_copy(update={"model": leak})))


def test_key_shaped_bootstrap_token_is_refused() -> None:
    with pytest.raises(UserDataError, match="provider key"):
        render_desk(minimal_desk(bootstrap_token="sk-ant-api03-" + "x" * 40))


def test_check_refuses_document_without_header() -> None:
    with pytest.raises(UserDataError, match="#cloud-config"):
        check_document("hostname: x\n")


def test_check_refuses_invalid_yaml() -> None:
    with pytest.raises(UserDataError, match="not valid YAML"):
        check_document("#cloud-config\nusers: [\n")


def test_check_refuses_unknown_top_level_key() -> None:
    with pytest.raises(UserDataError, match="allow-list"):
        check_document("#cloud-config\nhostname: x\npackages: [curl]\n")


def test_plain_http_control_plane_is_refused() -> None:
    with pytest.raises(UserDataError, match="https"):
        render_desk(minimal_desk(control_plane_url="http://10.0.2.2:8080"))


def test_data_disk_outside_dev_is_refused() -> None:
    with pytest.raises(UserDataError, match="/dev"):
        render_desk(minimal_desk(data_disk_device="/dev/vdb; rm -rf /"))


def test_line_break_in_a_model_name_is_refused() -> None:
    agent = minimal_desk().agent.model_copy(update={"model": "gpt\nASSISTANT_PROVIDER=x"})
    with pytest.raises(ValueError, match="line breaks"):
        render_desk(minimal_desk(agent=agent))


@pytest.mark.parametrize("factory", [minimal_desk, hetzner_desk])
def test_bootstrap_script_is_valid_posix_shell(
    factory: Callable[[], DeskBootSettings], tmp_path: Path
) -> None:
    script = tmp_path / "bureau-bootstrap"
    script.write_text(_file(_doc(factory()), "/usr/local/sbin/bureau-bootstrap")["content"])
    proc = subprocess.run(["dash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
