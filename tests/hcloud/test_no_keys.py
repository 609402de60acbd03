"""No BYOK key — nor the bootstrap token, the Hetzner token or the Pulumi passphrase — reaches
rendered user-data, a Pulumi input stored in clear, a progress line, a driver error or a log line
along a desk's whole Hetzner life (render, create, stop, start, failure, destroy)."""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest

from cloud_init import render_desk
from cloud_init.checks import find_key_like
from orchestrator.drivers.base import TransientDriverError
from orchestrator.drivers.hcloud import HCLOUD_DATA_DISK
from orchestrator.redaction import KEY_PATTERN
from tests.cloud_init.desks import hetzner_desk
from tests.fakes.hetzner_engine import non_secret_strings
from tests.hcloud.conftest import PASSPHRASE, TOKEN, World, spec

BYOK_KEY = "sk-ant-api03-" + secrets.token_urlsafe(40)


def _forbidden(bootstrap_token: str) -> list[str]:
    return [BYOK_KEY, bootstrap_token, TOKEN, PASSPHRASE]


def _assert_clean(text: str, bootstrap_token: str, where: str) -> None:
    for value in _forbidden(bootstrap_token):
        assert value not in text, f"a secret leaked into {where}: {text[:200]!r}"
    assert not KEY_PATTERN.search(text), f"a key-shaped string in {where}: {text[:200]!r}"


def test_a_desk_life_on_hetzner_leaks_no_secret(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    boot = hetzner_desk(
        bootstrap_token="bt_" + secrets.token_urlsafe(32), data_disk_device=HCLOUD_DATA_DISK
    )
    token = boot.bootstrap_token
    rendered = render_desk(boot)

    # 1. Rendered user-data: no key (there is no field for one), nothing key-shaped.
    assert BYOK_KEY not in rendered.plain_text()
    assert find_key_like(rendered.plain_text()) is None

    # A provider error that echoes the key and the Hetzner token, seen on every Pulumi run.
    world.engine.chatter = [f"error: provider said: invalid key {BYOK_KEY} (token {TOKEN})"]
    desk = spec("dsk_life", user_data=rendered.text)
    asyncio.run(world.driver.create(desk, world.report))
    asyncio.run(world.driver.stop("dsk_life", world.report))
    asyncio.run(world.driver.start(desk, world.report))
    world.engine.fail_next("up", TransientDriverError(f"pulumi up: 401 for {BYOK_KEY} {TOKEN}"))
    with pytest.raises(TransientDriverError) as failure:
        asyncio.run(world.driver.start(desk, world.report))
    asyncio.run(world.driver.destroy("dsk_life", world.report))

    # 2. Pulumi inputs: user-data only as a secret; nothing in clear carries a secret.
    registrations = [r for r in world.engine.registrations if r.stack == "desk-dsk_life"]
    assert registrations, "the program registered nothing"
    for registration in registrations:
        for text in non_secret_strings(registration.inputs):
            _assert_clean(text, token, f"{registration.typ} input")
            assert "#cloud-config" not in text and rendered.text not in text
    servers = [r for r in registrations if r.typ.endswith("Server")]
    assert len(servers) == 2  # create and start (stop declares no server; the failed run none)
    assert all(s.inputs["userData"].get("4dabf18193072939515e22adb298388d") for s in servers), (
        "user_data must be a secret input"
    )

    # 3. Progress lines, the driver's error and every log record: scrubbed.
    assert world.progress
    for line in world.progress:
        _assert_clean(line, token, "a progress line")
    _assert_clean(str(failure.value), token, "a driver error")
    driver_logs = [r for r in caplog.records if r.name.startswith("bureau.drivers.hcloud")]
    assert len(driver_logs) >= len(world.progress)
    for record in caplog.records:
        _assert_clean(record.getMessage(), token, f"log record of {record.name}")
