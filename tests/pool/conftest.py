"""Pool VM fixtures: ONE template per test session (a TCG boot costs minutes on a loaded host).

The template's guest forward leads to an enrollment double (the real PKI) on a fixed host port,
so every clone of it can enroll.
"""

from __future__ import annotations

import asyncio
import os
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

    # BUREAU_TEST_POOL_DIR keeps the data dir (and so the template) between sessions.
    kept = os.environ.get("BUREAU_TEST_POOL_DIR")
    data_dir = Path(kept) if kept else tmp_path_factory.mktemp("pool-data")
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_image(data_dir)
    pki = Pki(data_dir / "test-tls", ["127.0.0.1", "10.0.2.100"])
    enrollments = Enrollments()
    port_file = data_dir / "test-control-plane-port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    port_file.write_text(str(port))
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
