"""The app factory: settings, database, tools, runs and routes are built here, never at import.

Two steps, so a pooled desk can do the first before its template is snapshotted:
- ``build_app``: the FastAPI app with the core and desk routers and the error handlers. It depends
  on no desk data, no setting and no identity (routes reach the services through
  ``request.app.state``); ``warm_routes`` then makes FastAPI build its per-route state (dependants,
  response fields, the middleware stack), which it otherwise does lazily on the first request;
- ``bind_app``: the desk's services (settings, database, credentials, tools) and the extensions
  (files, vector stores, memory: their routers hold those services), and the lifespan's work.
``create_app`` does both (the cold path and tests).

A pool template goes one step further: ``prebind_app`` builds the services and extensions for the
settings every desk shares (data dir, workspace, tool user, memory on, limits) before any desk
exists, with nothing opened (the database and LanceDB open in the lifespan). ``bind_app`` then
only hands them the desk's own settings and credentials, provided the desk's settings agree with
the prebuilt ones on everything but ``PER_DESK_SETTINGS``; otherwise it raises
``PrebuiltMismatch`` and the caller builds a fresh app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from bureau_agent.api.deps import require_auth
from bureau_agent.api.errors import install_error_handlers
from bureau_agent.api.routes import assistants, desk, messages, runs, steps, threads
from bureau_agent.config import AgentConfig
from bureau_agent.credentials import Credentials, from_config
from bureau_agent.plugins import Extensions, install_extensions
from bureau_agent.providers.factory import default_model_factory
from bureau_agent.runner.manager import RunManager
from bureau_agent.services import Clock, ModelFactory, Services
from bureau_agent.store.db import Database
from bureau_agent.store.documents import DocumentStore
from bureau_agent.tools.base import ToolRegistry
from bureau_agent.tools.builtin import register_builtin_tools
from bureau_agent.version import __version__

log = logging.getLogger(__name__)

API_PREFIXES = ("/v1", "/openai")
"""OpenAI's ``/v1`` and Azure OpenAI's ``/openai`` (its ``?api-version=`` query is accepted)."""
DESK_PREFIX = "/desk/v1"
WARM_PATH = "/.bureau-warm-routes"
"""Matches no route: a request to it walks (and so builds) every route of the app."""

#: Settings a desk may set differently from the prebuilt services' (``prebind_app``): they are
#: read when used (per request, run or call) or replaced by ``bind_app``, never captured while the
#: services and extensions are built.
PER_DESK_SETTINGS = frozenset(
    {
        "assistant_provider",
        "assistant_chat_completion_endpoint",
        "assistant_api_key",
        "assistant_model",
        "assistant_longer_context_model",
        "assistant_max_tool_calls",
        "embeddings_provider",
        "embeddings_endpoint",
        "embeddings_api_key",
        "embeddings_model",
        "agent_token",
        "desk_id",
        "control_plane_url",
        "control_plane_ca_file",
        "bootstrap_token_file",
        "agent_port",
        "agent_host",
        "user_data_copies",
    }
)

CORE_ROUTERS: list[APIRouter] = [
    runs.router,  # first: POST /threads/runs must win over POST /threads/{thread_id}
    assistants.router,
    threads.router,
    messages.router,
    steps.router,
]


def build_services(
    config: AgentConfig,
    *,
    clock: Clock | None = None,
    model_factory: ModelFactory | None = None,
    credentials: Credentials | None = None,
) -> Services:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(config.database_path)
    tools = ToolRegistry()
    services = Services(
        config=config,
        db=db,
        docs=DocumentStore(db),
        tools=tools,
        credentials=credentials or Credentials(provider=from_config(config)),
        model_factory=model_factory or default_model_factory(config),
    )
    if clock is not None:
        services.clock = clock
    register_builtin_tools(services)
    return services


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    services: Services | None = getattr(app.state, "services", None)
    extensions: Extensions | None = getattr(app.state, "extensions", None)
    if services is None or extensions is None:
        raise RuntimeError("the app was not bound to a desk's services (bind_app)")
    await services.db.open()
    services.runs = RunManager(services)
    await services.runs.start()
    for hook in extensions.on_startup:
        await hook()
    try:
        yield
    finally:
        for hook in extensions.on_shutdown:
            await hook()
        await services.runs.stop()
        await services.db.close()


def _auth() -> list[Any]:
    return [Depends(require_auth)]


def build_app(*, mutual_tls: bool = False) -> FastAPI:
    """The app without any desk: core and desk routes, error handlers, the lifespan.

    ``mutual_tls``: the server requires client certificates (desk mode).
    """
    app = FastAPI(title="Bureau agent", version=__version__, lifespan=_lifespan, docs_url=None)
    app.state.mutual_tls = mutual_tls
    install_error_handlers(app)
    for prefix in API_PREFIXES:
        for router in CORE_ROUTERS:
            app.include_router(router, prefix=prefix, dependencies=_auth())
    app.include_router(desk.router, prefix=DESK_PREFIX, dependencies=_auth())
    return app


class PrebuiltMismatch(ValueError):
    """The desk's settings differ from the prebuilt services' (the names say where)."""


@dataclass
class _Prebuilt:
    services: Services
    extensions: Extensions
    captured: dict[str, Any]


def _captured(config: AgentConfig) -> dict[str, Any]:
    return {k: v for k, v in config.model_dump().items() if k not in PER_DESK_SETTINGS}


def _include_extensions(app: FastAPI, extensions: Extensions) -> None:
    # After the core routers, as before: within a prefix the core routes still match first.
    for prefix in API_PREFIXES:
        for router in extensions.routers:
            app.include_router(router, prefix=prefix, dependencies=_auth())
    for router in extensions.desk_routers:
        app.include_router(router, prefix=DESK_PREFIX, dependencies=_auth())


def prebind_app(app: FastAPI, config: AgentConfig) -> None:
    """Build the services and extensions (and mount their routes) for desks whose settings will
    agree with ``config`` on everything but ``PER_DESK_SETTINGS``; nothing is opened."""
    if getattr(app.state, "prebuilt", None) or getattr(app.state, "services", None):
        raise RuntimeError("the app already has services")
    services = build_services(config)
    extensions = install_extensions(services)
    _include_extensions(app, extensions)
    app.state.prebuilt = _Prebuilt(services, extensions, _captured(config))


def bind_app(
    app: FastAPI,
    config: AgentConfig,
    *,
    clock: Clock | None = None,
    model_factory: ModelFactory | None = None,
    credentials: Credentials | None = None,
    desk_id: str | None = None,
) -> Services:
    """Give ``app`` its desk: the services over ``config``'s data dir and the extensions' routes.

    The database and the extensions open in the lifespan (when the server starts), not here.
    With prebuilt services (``prebind_app``) they are reused when ``config`` agrees with them
    (else ``PrebuiltMismatch``: build a fresh app).
    """
    if getattr(app.state, "services", None) is not None:
        raise RuntimeError("the app is already bound")
    prebuilt: _Prebuilt | None = getattr(app.state, "prebuilt", None)
    if prebuilt is not None:
        wanted = _captured(config)
        differ = sorted(k for k in wanted.keys() | prebuilt.captured.keys()
                        if wanted.get(k) != prebuilt.captured.get(k))  # fmt: skip
        if differ:
            raise PrebuiltMismatch(f"settings differ from the prebuilt ones: {', '.join(differ)}")
        services = prebuilt.services
        services.config = config
        services.credentials = credentials or Credentials(provider=from_config(config))
        services.model_factory = model_factory or default_model_factory(config)
        if clock is not None:
            services.clock = clock
        services.started_at = time.monotonic()
        extensions = prebuilt.extensions
        app.state.prebuilt = None
    else:
        services = build_services(
            config, clock=clock, model_factory=model_factory, credentials=credentials
        )
        extensions = install_extensions(services)
        _include_extensions(app, extensions)
    app.state.services = services
    app.state.extensions = extensions
    app.state.desk_id = desk_id or config.desk_id
    return services


def create_app(
    config: AgentConfig,
    *,
    clock: Clock | None = None,
    model_factory: ModelFactory | None = None,
    credentials: Credentials | None = None,
    mutual_tls: bool = False,
    desk_id: str | None = None,
) -> FastAPI:
    """The agent's ASGI app. ``mutual_tls``: the server requires client certificates (desk mode)."""
    app = build_app(mutual_tls=mutual_tls)
    bind_app(
        app,
        config,
        clock=clock,
        model_factory=model_factory,
        credentials=credentials,
        desk_id=desk_id,
    )
    return app


async def asgi_get(app: FastAPI, path: str) -> int:
    """``GET path`` through ``app`` in-process (no server, no lifespan); the response status."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


def warm_routes(app: FastAPI) -> None:
    """Build FastAPI's lazy per-route state now (one request that matches no route, in-process).

    Without it the first request to the app builds every route it walks past (under TCG, many
    seconds). Safe from another thread: FastAPI builds each router's state under a lock.
    """
    status = asyncio.run(asgi_get(app, WARM_PATH))
    if status != 404:
        log.warning("route warm-up answered %d, not 404", status)


def warm_routes_in_background(app: FastAPI) -> threading.Thread:
    """``warm_routes`` in a daemon thread (for routes added by ``bind_app`` while serving)."""
    thread = threading.Thread(
        target=warm_routes, args=(app,), name="bureau-warm-routes", daemon=True
    )
    thread.start()
    return thread
