"""Fixtures of the control-plane tests: a fresh database per test (SQLite file or a PostgreSQL
database cloned from a migrated template), a real HTTPS control plane on loopback with the
scripted driver, and the agent wheel built once per session."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from orchestrator.api.routes.users import ensure_admin
from orchestrator.app import create_app
from orchestrator.db import Database
from orchestrator.dist import AgentDistStore
from orchestrator.drivers.scripted import ScriptedDriver
from orchestrator.escrow import Escrow
from orchestrator.migrate import upgrade
from orchestrator.runtime import Runtime
from orchestrator.settings import Settings
from tests.helpers.servers import free_port, serve_asgi

REPO = Path(__file__).resolve().parents[2]


def _admin_engine(url: str) -> Any:
    return create_engine(url, isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def postgres_database(base_url: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (optionally cloned from ``template``), dropped afterwards."""
    name = f"bureau_h2_{secrets.token_hex(5)}"
    engine = _admin_engine(base_url)
    with engine.connect() as conn:
        clause = f" TEMPLATE {template}" if template else ""
        conn.exec_driver_sql(f"CREATE DATABASE {name}{clause}")
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        engine.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A migrated PostgreSQL template database for this session (None without PostgreSQL)."""
    base = os.environ.get("BUREAU_TEST_DATABASE_URL")
    if not base:
        yield None
        return
    with postgres_database(base) as url:
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield str(make_url(url).database)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_template: str | None
) -> Iterator[str]:
    """Every DB test runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bureau.db'}"
        return
    base = os.environ.get("BUREAU_TEST_DATABASE_URL")
    if not base or pg_template is None:
        pytest.skip("BUREAU_TEST_DATABASE_URL is not set")
    with postgres_database(base, pg_template) as url:
        yield url


@pytest.fixture(scope="session")
def agent_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the bureau-agent wheel (the scripted driver installs nothing), so tests do
    not pay for ``pip wheel``; test_dist.py builds the real one."""
    dist = tmp_path_factory.mktemp("agent-dist")
    version = AgentDistStore(dist, REPO / "agent_image").version()
    wheel = dist / f"bureau_agent-{version}-py3-none-any.whl"
    wheel.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip archive
    return wheel


def make_settings(data_dir: Path, database_url: str, port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "driver": "scripted",
        "public_url": f"https://127.0.0.1:{port}",
        "port": port,
        "allow_http_endpoints": True,
        "worker_concurrency": 4,
        "job_poll_seconds": 0.05,
        "job_heartbeat_seconds": 0.2,
        "job_stale_seconds": 3.0,
        "driver_retry_attempts": 3,
        "driver_retry_base_seconds": 0.01,
        "reconcile_interval_seconds": 3600.0,
        "health_timeout_seconds": 20.0,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class ControlPlane:
    url: str
    ca: Path
    admin_token: str
    driver: ScriptedDriver
    runtime: Runtime
    settings: Settings

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=str(self.ca)),
            headers=headers,
            timeout=30,
        )

    def admin(self) -> httpx.Client:
        return self.client(self.admin_token)

    def new_user(self, name: str, *, is_admin: bool = False) -> str:
        with self.admin() as client:
            response = client.post("/v1/users", json={"name": name, "is_admin": is_admin})
            assert response.status_code == 201, response.text
            return str(response.json()["token"])


@contextlib.contextmanager
def running_control_plane(
    tmp_path: Path,
    database_url: str,
    agent_wheel: Path,
    *,
    driver: ScriptedDriver | None = None,
    escrow: Escrow | None = None,
    fresh_admin: bool = True,
    **overrides: Any,
) -> Iterator[ControlPlane]:
    data_dir = tmp_path / "data"
    (data_dir / "dist").mkdir(parents=True, exist_ok=True)
    if not (data_dir / "dist" / agent_wheel.name).exists():
        shutil.copy(agent_wheel, data_dir / "dist" / agent_wheel.name)
    port = free_port()
    settings = make_settings(data_dir, database_url, port, **overrides)
    driver = driver or ScriptedDriver()
    app = create_app(settings, driver=driver, escrow=escrow)
    runtime: Runtime = app.state.runtime
    with runtime.db.session() as session:
        token = ensure_admin(session, None)
    assert token is not None or not fresh_admin
    paths = runtime.pki.paths
    with serve_asgi(app, port=port, certfile=paths.server, keyfile=paths.server_key) as server:
        yield ControlPlane(server.url, paths.ca, token or "", driver, runtime, settings)


@pytest.fixture
def control_plane(tmp_path: Path, database_url: str, agent_wheel: Path) -> Iterator[ControlPlane]:
    with running_control_plane(tmp_path, database_url, agent_wheel) as cp:
        yield cp


def desk_body(name: str = "dev", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "provider": "openai",
        "api_key": "sk-test-" + secrets.token_hex(12),
        "model": "gpt-4o-mini",
    }
    body.update(overrides)
    return body


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def module_control_plane(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pg_template: str | None,
    agent_wheel: Path,
) -> Iterator[ControlPlane]:
    """One control plane shared by a module's tests (for read-mostly tests), on both databases."""
    tmp = tmp_path_factory.mktemp("cp")
    if request.param == "sqlite":
        with running_control_plane(tmp, f"sqlite:///{tmp / 'bureau.db'}", agent_wheel) as cp:
            yield cp
        return
    base = os.environ.get("BUREAU_TEST_DATABASE_URL")
    if not base or pg_template is None:
        pytest.skip("BUREAU_TEST_DATABASE_URL is not set")
    with postgres_database(base, pg_template) as url:
        with running_control_plane(tmp, url, agent_wheel) as cp:
            yield cp
