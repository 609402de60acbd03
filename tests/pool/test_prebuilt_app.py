"""The pool template's prebuilt agent app: built and warmed with no desk, bound to one later.

``prebind_app`` builds the services and extensions for the settings every desk shares; after
enrollment ``bind_app`` hands them the desk's own settings. Served by real uvicorn on loopback.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bureau_agent.app import PrebuiltMismatch, bind_app, build_app, prebind_app, warm_routes
from bureau_agent.config import AgentConfig
from tests.helpers.servers import serve_asgi

TOKEN = "agent-token-for-tests"


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="bureau-prebuilt-"))
    os.chmod(path, 0o711)  # noqa: S103 - as a desk data dir
    yield path
    shutil.rmtree(path, ignore_errors=True)


def shared_settings(root: Path, **more: Any) -> AgentConfig:
    """What every desk shares (the template knows these before any desk exists)."""
    values: dict[str, Any] = {
        "BUREAU_AGENT_DATA_DIR": str(root / "data"),
        "BUREAU_WORKSPACE_DIR": str(root / "workspace"),
        "BUREAU_MEMORY": "on",
    }
    values.update(more)
    return AgentConfig(**values)


def desk_settings(root: Path, **more: Any) -> AgentConfig:
    return shared_settings(
        root,
        BUREAU_DESK_ID="dsk_prebuilt",
        BUREAU_AGENT_TOKEN=TOKEN,
        ASSISTANT_PROVIDER="openai",
        ASSISTANT_MODEL="gpt-4o-mini",
        ASSISTANT_API_KEY="sk-test-prebuilt-0000",
        **more,
    )


def test_a_prebuilt_app_serves_the_desk_it_is_bound_to(root: Path) -> None:
    app = build_app()
    prebind_app(app, shared_settings(root))
    warm_routes(app)
    bind_app(app, desk_settings(root))
    headers = {"authorization": f"Bearer {TOKEN}"}
    with serve_asgi(app) as server, httpx.Client(base_url=server.url, headers=headers) as client:
        health = client.get("/desk/v1/health").json()
        thread = client.post("/v1/threads", json={})
        upload = client.post(
            "/v1/files",
            files={"file": ("notes.txt", b"prebuilt notes", "text/plain")},
            data={"purpose": "assistants"},
        )
        refused = client.get("/v1/threads/x", headers={"authorization": "Bearer no"})
    assert (health["desk_id"], health["status"], health["model"]) == (
        "dsk_prebuilt",
        "ok",
        "gpt-4o-mini",
    )
    assert refused.status_code == 401  # the desk's own agent token, read when used
    assert thread.status_code == 200, thread.text
    assert upload.status_code == 200, upload.text
    assert (root / "data" / "agent.sqlite3").is_file()
    stored = [p for p in (root / "data" / "files").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in stored] == [b"prebuilt notes"]


def test_a_desk_whose_shared_settings_differ_is_refused_by_name(root: Path) -> None:
    app = build_app()
    prebind_app(app, shared_settings(root))
    with pytest.raises(PrebuiltMismatch, match="memory"):
        bind_app(app, desk_settings(root, BUREAU_MEMORY="off"))


def test_a_fresh_app_serves_a_desk_the_prebuilt_one_did_not_fit(root: Path) -> None:
    app = build_app()
    prebind_app(app, shared_settings(root))
    settings = desk_settings(root, BUREAU_MEMORY="off")
    with pytest.raises(PrebuiltMismatch):
        bind_app(app, settings)
    fresh = build_app()
    bind_app(fresh, settings)
    headers = {"authorization": f"Bearer {TOKEN}"}
    with serve_asgi(fresh) as server, httpx.Client(base_url=server.url, headers=headers) as client:
        memory = client.get("/desk/v1/memory")
    assert memory.status_code == 409  # memory is off on this desk
