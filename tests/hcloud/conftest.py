"""A fake Hetzner API on loopback, the fake Pulumi engine over it, and the hcloud driver."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from orchestrator.drivers.base import DESK_SIZES, DeskSpec
from orchestrator.drivers.hcloud import HcloudDriver, HcloudSettings
from orchestrator.drivers.hcloud_inventory import Inventory, make_client
from tests.fakes.hetzner import FakeHetzner
from tests.fakes.hetzner_engine import FakeStackEngine
from tests.helpers.servers import serve_asgi

TOKEN = "hcloud-test-token-0123456789abcdef"
PASSPHRASE = "pulumi-test-passphrase-42"
CONTROL_PLANE = ("203.0.113.5/32",)


@dataclass
class World:
    hetzner: FakeHetzner
    engine: FakeStackEngine
    driver: HcloudDriver
    api_url: str
    progress: list[str]

    def report(self, line: str) -> None:
        self.progress.append(line)


@pytest.fixture(scope="module")
def hetzner_server() -> Iterator[tuple[FakeHetzner, str]]:
    fake = FakeHetzner(token=TOKEN)
    with serve_asgi(fake.app) as server:
        yield fake, server.url


@pytest.fixture
def world(hetzner_server: tuple[FakeHetzner, str]) -> World:
    fake, url = hetzner_server
    fake.reset()
    settings = HcloudSettings(
        token=TOKEN,
        pulumi_passphrase=PASSPHRASE,
        control_plane_cidrs=CONTROL_PLANE,
        api_endpoint=url,
        plugin_version="1.43.3",
    )
    engine = FakeStackEngine(fake)
    driver = HcloudDriver(settings, engine, Inventory(make_client(TOKEN, url)))
    return World(fake, engine, driver, url, [])


def spec(desk_id: str = "dsk_a1", **overrides: object) -> DeskSpec:
    values: dict[str, object] = {
        "desk_id": desk_id,
        "owner_id": "usr_1",
        "name": "my desk",
        "size": DESK_SIZES["small"],
        "user_data": "#cloud-config\nhostname: desk-a1\n",
    }
    values.update(overrides)
    return DeskSpec(**values)  # type: ignore[arg-type]
