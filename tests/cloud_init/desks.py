"""Representative desks for the renderer's tests (and other tests that need user-data)."""

from __future__ import annotations

from typing import Any

from cloud_init import AgentBootConfig, AgentDist, DeskBootSettings

TEST_CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBDzCBwqADAgECAgEBMAUGAytlcDAnMSUwIwYDVQQDDBxCdXJlYXUgdGVzdCBj
b250cm9sIHBsYW5lIENBMB4XDTI2MDEwMTAwMDAwMFoXDTM1MTIzMDAwMDAwMFow
JzElMCMGA1UEAwwcQnVyZWF1IHRlc3QgY29udHJvbCBwbGFuZSBDQTAqMAUGAytl
cAMhAAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4oxMwETAPBgNVHRMB
Af8EBTADAQH/MAUGAytlcANBABQbeg1d+tiSwx4no6fRVH/VKlovrZpVMw+kW3Bp
nJ87i12hRRMWqBNZNbQiBgyMftolhU1DSNEVvK+W6/O0XAQ=
-----END CERTIFICATE-----
"""

TEST_TOKEN = "bt_" + "Q2hlY2tUaGlzVG9rZW5Jc05vdEFLZXk" + "0123456789"
DIST = AgentDist(
    version="0.1.0",
    filename="bureau_agent-0.1.0-py3-none-any.whl",
    sha256="5" * 64,
)
SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKq0x2V4n7d7wV8m0mZ9c2xQ3Yp1hWlT0q8yJb6sFv3r ada@laptop"
)


def minimal_desk(**overrides: Any) -> DeskBootSettings:
    """Anthropic, defaults everywhere: no data disk, no SSH."""
    values: dict[str, Any] = {
        "desk_id": "dsk_minimal01",
        "hostname": "desk-minimal01",
        "control_plane_url": "https://10.0.2.2:8443",
        "control_plane_ca_pem": TEST_CA_PEM,
        "bootstrap_token": TEST_TOKEN,
        "agent": AgentBootConfig(provider="anthropic", model="claude-sonnet-4-5"),
        "agent_dist": DIST,
    }
    values.update(overrides)
    return DeskBootSettings(**values)


def hetzner_desk(**overrides: Any) -> DeskBootSettings:
    """OpenAI with embeddings and a longer-context model, Hetzner volume, SSH for the owner."""
    values: dict[str, Any] = {
        "desk_id": "dsk_hetzner02",
        "hostname": "desk-hetzner02",
        "control_plane_url": "https://bureau.example.com",
        "control_plane_ca_pem": TEST_CA_PEM,
        "bootstrap_token": TEST_TOKEN,
        "agent": AgentBootConfig(
            provider="openai",
            model="gpt-4.1-mini",
            longer_context_model="gpt-4.1",
            max_tool_calls=25,
            embeddings_provider="openai",
            embeddings_model="text-embedding-3-small",
        ),
        "agent_dist": DIST.model_copy(update={"requirements_filename": "requirements-0.1.0.txt"}),
        "ssh_authorized_keys": (SSH_KEY,),
        "data_disk_device": "/dev/disk/by-id/scsi-0HC_Volume_*",
    }
    values.update(overrides)
    return DeskBootSettings(**values)


def custom_endpoint_desk(**overrides: Any) -> DeskBootSettings:
    """A self-hosted model behind a custom endpoint (query string), memory off, local data disk."""
    values: dict[str, Any] = {
        "desk_id": "dsk_custom03",
        "hostname": "desk-custom03",
        "control_plane_url": "https://10.0.2.2:8443/",
        "control_plane_ca_pem": TEST_CA_PEM,
        "bootstrap_token": TEST_TOKEN,
        "agent": AgentBootConfig(
            provider="custom",
            model="qwen2.5-coder:7b",
            endpoint="http://10.0.2.2:11434/v1/chat/completions?api-version=2024-10-21&x=$HOME",
            memory=False,
        ),
        "agent_dist": DIST,
        "data_disk_device": "/dev/vdb",
    }
    values.update(overrides)
    return DeskBootSettings(**values)


REPRESENTATIVE_DESKS = {
    "minimal": minimal_desk,
    "hetzner": hetzner_desk,
    "custom_endpoint": custom_endpoint_desk,
}
