"""The session middleware: the pages' JavaScript reaches the JSON API with the browser session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI, Request

from orchestrator.web import mount_web
from orchestrator.web.session import SESSION_COOKIE, SessionCodec, WebSession
from tests.helpers.servers import RunningServer, serve_asgi

TOKEN = "bur_session_token_abcdef"
SESSION = WebSession(token=TOKEN, csrf="csrf-value-123", user_name="alice")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    app = FastAPI()

    @app.api_route("/v1/echo", methods=["GET", "POST", "DELETE"])
    async def echo(request: Request) -> dict[str, str | None]:
        return {"authorization": request.headers.get("authorization")}

    @app.post("/v1/agent/enroll")
    async def enroll(request: Request) -> dict[str, str | None]:
        return {"authorization": request.headers.get("authorization")}

    data_dir: Path = tmp_path_factory.mktemp("web-data")
    mount_web(app, SimpleNamespace(data_dir=data_dir))
    codec = app.state.bureau_web_codec
    assert isinstance(codec, SessionCodec)
    with serve_asgi(app) as running:
        yield running, codec.seal(SESSION)


def _client(server: tuple[RunningServer, str], cookie: str | None = None) -> httpx.Client:
    running, sealed = server
    value = sealed if cookie is None else cookie
    return httpx.Client(base_url=running.url, headers={"cookie": f"{SESSION_COOKIE}={value}"})


def test_get_with_session_cookie_reaches_the_api_as_bearer(server) -> None:
    with _client(server) as client:
        assert client.get("/v1/echo").json() == {"authorization": f"Bearer {TOKEN}"}


def test_post_without_csrf_header_is_refused(server) -> None:
    with _client(server) as client:
        response = client.post("/v1/echo")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_post_with_wrong_csrf_header_is_refused(server) -> None:
    with _client(server) as client:
        assert client.delete("/v1/echo", headers={"x-csrf-token": "nope"}).status_code == 403


def test_post_with_csrf_header_reaches_the_api_as_bearer(server) -> None:
    with _client(server) as client:
        response = client.post("/v1/echo", headers={"x-csrf-token": SESSION.csrf})
    assert response.json() == {"authorization": f"Bearer {TOKEN}"}


def test_explicit_authorization_header_is_left_alone(server) -> None:
    with _client(server) as client:
        response = client.post("/v1/echo", headers={"authorization": "Bearer other"})
    assert response.json() == {"authorization": "Bearer other"}


def test_tampered_cookie_adds_nothing(server) -> None:
    with _client(server, cookie=server[1][:-4] + "abcd") as client:
        assert client.get("/v1/echo").json() == {"authorization": None}


def test_agent_endpoints_never_get_the_user_session(server) -> None:
    with _client(server) as client:
        response = client.post("/v1/agent/enroll", headers={"x-csrf-token": SESSION.csrf})
    assert response.json() == {"authorization": None}
