"""Pool VM fixtures: ONE template per test session (a TCG boot costs minutes on a loaded host).

The template's guest forward leads to an enrollment double (the real PKI) on a fixed host port,
so every clone of it can enroll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.drivers.base import DESK_SIZES
from orchestrator.drivers.qemu_settings import QemuSettings
from orchestrator.pki import Pki
from orchestrator.pool.manager import PoolManager
from orchestrator.pool.settings import PoolSettings
from orchestrator.pool.template import Template
from tests.helpers.servers import free_port, serve_asgi
from tests.pool.enroll_double import Enrollments, enroll_app


@dataclass
class PoolEnv:
    data_dir: Path
    manager: PoolManager
    template: Template
    pki: Pki
    enrollments: Enrollments
    control_plane_port: int

    @property
    def guest_control_plane_url(self) -> str:
        return f"https://10.0.2.100:{self.control_plane_port}"


@pytest.fixture(scope="session")
def pool_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PoolEnv]:
    from tests.qemu.image import ensure_image

    data_dir = tmp_path_factory.mktemp("pool-data")
    ensure_image(data_dir)
    pki = Pki(tmp_path_factory.mktemp("pool-tls"), ["127.0.0.1", "10.0.2.100"])
    enrollments = Enrollments()
    port = free_port()
    app = enroll_app(pki, enrollments)
    with serve_asgi(
        app, port=port, certfile=pki.paths.server, keyfile=pki.paths.server_key, host="127.0.0.1"
    ):
        manager = PoolManager(
            data_dir,
            settings=PoolSettings(size=1, restore_timeout_seconds=30),
            qemu=QemuSettings(accel="tcg"),
            control_plane=("127.0.0.1", port),
        )
        template = asyncio.run(manager.template(DESK_SIZES["small"], progress=print))
        yield PoolEnv(data_dir, manager, template, pki, enrollments, port)
