"""Settings of the qemu driver (env prefix ``BUREAU_QEMU_``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.image.settings import DEFAULT_IMAGE_NAME

#: Where the guest sees the host's forwarded services (control plane, operator forwards).
GUEST_HOST_ADDRESS = "10.0.2.100"


@dataclass(frozen=True)
class HostForward:
    """Guest ``10.0.2.100:guest_port`` -> host ``host:port`` (an operator-listed service)."""

    guest_port: int
    host: str
    port: int


class QemuSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUREAU_QEMU_", extra="ignore")

    image: str = DEFAULT_IMAGE_NAME
    """Name of the installed guest image (``bureau image build --name``)."""
    binary: str = "qemu-system-x86_64"
    accel: Literal["auto", "kvm", "tcg"] = "auto"
    """auto: KVM only when a probe boot proves it works, else TCG."""
    tcg_tb_size_mib: int = Field(default=128, ge=32, le=2048)
    network: Literal["restricted", "passt"] = "restricted"
    """restricted: QEMU user networking with restrict=on (no internet, explicit forwards only);
    passt: also a passt NIC (``--no-map-gw``) for internet egress without host loopback."""
    host_forwards: str = ""
    """Comma-separated ``[GUEST_PORT=]HOST:PORT`` host services the guest reaches at
    10.0.2.100:GUEST_PORT (default GUEST_PORT = PORT), e.g. a local model server."""
    control_plane_port: int | None = None
    """Port of the control plane on 127.0.0.1, when the control plane did not tell the driver."""
    memory_limit_mib: int | None = None
    """Total guest memory allowed on this host (default: host memory minus the reserve)."""
    memory_reserve_mib: int = Field(default=2048, ge=0)
    stop_timeout_seconds: float = Field(default=60.0, gt=0)
    probe_timeout_seconds: float = Field(default=10.0, gt=0)
    kernel_args: str = (
        "console=ttyS0 quiet panic=-1 mitigations=off tsc=reliable no_timer_check "
        "random.trust_cpu=on cryptomgr.notests"
    )

    @field_validator("host_forwards")
    @classmethod
    def _check_forwards(cls, value: str) -> str:
        parse_forwards(value)
        return value

    def forwards(self) -> list[HostForward]:
        return parse_forwards(self.host_forwards)


def parse_forwards(value: str) -> list[HostForward]:
    """Parse ``[GUEST_PORT=]HOST:PORT,...``; raise ValueError with the bad entry."""
    result = []
    for raw in filter(None, (part.strip() for part in value.split(","))):
        guest, _, target = raw.rpartition("=")
        host, sep, port_text = target.rpartition(":")
        try:
            port = int(port_text)
            guest_port = int(guest) if guest else port
        except ValueError:
            raise ValueError(f"bad host forward {raw!r}: expected [GUEST_PORT=]HOST:PORT") from None
        if not sep or not host or not (0 < port < 65536 and 0 < guest_port < 65536):
            raise ValueError(f"bad host forward {raw!r}: expected [GUEST_PORT=]HOST:PORT")
        result.append(HostForward(guest_port=guest_port, host=host, port=port))
    return result
