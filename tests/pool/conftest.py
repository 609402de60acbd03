"""Pool VM fixtures: ONE template per test session (a TCG boot costs minutes on a loaded host).

The template's guest forwards lead to a fixed host port for the control plane and to one fake
LLM provider, so every clone of it can enroll and reach its provider. test_clones_vm.py enrolls
its clones with an enrollment double (the real PKI) on that port; test_pool_e2e.py copies the
template into `bureau serve`'s data directory and serves the control plane on the same port, so
the session builds the template once.
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
from tests.e2e.processes import Process, start_fake_provider
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
    provider: Process
    provider_url: str

    @property
    def guest_control_plane_url(self) -> str:
        return f"https://10.0.2.100:{self.control_plane_port}"

    @property
    def qemu_host_forwards(self) -> str:
        """``BUREAU_QEMU_HOST_FORWARDS`` for a control plane that should find this template."""
        return "127.0.0.1:" + self.provider_url.rsplit(":", 1)[1]


def _kept_port(data_dir: Path, name: str) -> int:
    """A port remembered in the data dir, so a kept template (same forwards) is found again."""
    port_file = data_dir / f"test-{name}-port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    port_file.write_text(str(port))
    return port


@pytest.fixture(scope="session")
def pool_template_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PoolEnv]:
    """The session's template (built once) and the fake provider its forward leads to."""
    from tests.qemu.image import ensure_image

    # BUREAU_TEST_POOL_DIR keeps the data dir (and so the template) between sessions.
    kept = os.environ.get("BUREAU_TEST_POOL_DIR")
    data_dir = Path(kept) if kept else tmp_path_factory.mktemp("pool-data")
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_image(data_dir)
    pki = Pki(data_dir / "test-tls", ["127.0.0.1", "10.0.2.100"])
    port = _kept_port(data_dir, "control-plane")
    provider, provider_url = start_fake_provider(
        data_dir / "provider.log", port=_kept_port(data_dir, "provider")
    )
    try:
        forwards = "127.0.0.1:" + provider_url.rsplit(":", 1)[1]
        manager = PoolManager(
            data_dir,
            settings=PoolSettings(size=1, restore_timeout_seconds=30),
            qemu=QemuSettings(accel="tcg", host_forwards=forwards),
            control_plane=("127.0.0.1", port),
        )
        template = asyncio.run(manager.template(DESK_SIZES["small"], progress=print))
        yield PoolEnv(data_dir, manager, template, pki, Enrollments(), port, provider, provider_url)
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def pool_env(pool_template_env: PoolEnv) -> Iterator[PoolEnv]:
    """The session's template with the enrollment double answering on its control-plane port
    (for this module only: test_pool_e2e.py serves the real control plane there)."""
    env = pool_template_env
    app = enroll_app(env.pki, env.enrollments)
    with serve_asgi(
        app,
        port=env.control_plane_port,
        certfile=env.pki.paths.server,
        keyfile=env.pki.paths.server_key,
        host="127.0.0.1",
    ):
        yield env
