"""A desk in ``passt`` network mode: internet egress, and the only mode with DNS.

The image starts systemd-resolved only when the driver puts ``bureau.dns=on`` on the kernel command
line (passt mode); the restricted desk of test_desk_vm.py runs none. Needs the host to reach the
internet (else skipped) and ``passt``.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.drivers.base import DESK_SIZES, DeskSpec
from orchestrator.drivers.qemu import QemuDriver
from orchestrator.drivers.qemu_settings import QemuSettings
from tests.helpers.wait import wait_until
from tests.qemu.guest import probe_results, resolver_facts, self_signed, standalone_user_data

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.timeout(3600)]


def _host_online() -> bool:
    try:
        with socket.create_connection(("deb.debian.org", 80), timeout=5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def console(qemu_data_dir: Path) -> Iterator[str]:
    if shutil.which("passt") is None:
        pytest.skip("passt is not installed")
    if not _host_online():
        pytest.skip("the host cannot reach the internet")
    driver = QemuDriver(qemu_data_dir, QemuSettings(network="passt"))
    spec = DeskSpec(
        desk_id=f"dsk_pt{uuid.uuid4().hex[:8]}",
        owner_id="usr_test",
        name="passt-test",
        size=DESK_SIZES["small"],
        user_data=standalone_user_data(self_signed(), ["1.1.1.1:443"], "passt"),
    )
    events: list[str] = []
    asyncio.run(driver.create(spec, events.append))

    def text() -> str:
        return asyncio.run(driver.console_excerpt(spec.desk_id, 1 << 20))

    try:
        wait_until(lambda: len(resolver_facts(text())) == 2, timeout=900, interval=2.0)
        yield text()
    finally:
        asyncio.run(driver.destroy(spec.desk_id, events.append))


def test_passt_desk_resolves_names_through_its_resolver(console: str) -> None:
    assert resolver_facts(console) == {"RESOLVER": "active", "LOOKUP": "ok"}


def test_passt_desk_reaches_the_internet(console: str) -> None:
    assert probe_results(console)["1.1.1.1:443"] == "open"
