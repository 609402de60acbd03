"""The app factory: settings, database, tools, runs and routes are built here, never at import."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from bureau_agent.api.deps import require_auth
from bureau_agent.api.errors import install_error_handlers
from bureau_agent.api.routes import assistants, desk, messages, runs, steps, threads
from bureau_agent.config import AgentConfig
from bureau_agent.credentials import Credentials, from_config
from bureau_agent.plugins import install_extensions
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
    services = build_services(
        config, clock=clock, model_factory=model_factory, credentials=credentials
    )
    extensions = install_extensions(services)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
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

    app = FastAPI(title="Bureau agent", version=__version__, lifespan=lifespan, docs_url=None)
    app.state.services = services
    app.state.mutual_tls = mutual_tls
    app.state.desk_id = desk_id or config.desk_id
    install_error_handlers(app)
    auth: list[Any] = [Depends(require_auth)]
    for prefix in API_PREFIXES:
        for router in [*CORE_ROUTERS, *extensions.routers]:
            app.include_router(router, prefix=prefix, dependencies=auth)
    app.include_router(desk.router, prefix="/desk/v1", dependencies=auth)
    for router in extensions.desk_routers:
        app.include_router(router, prefix="/desk/v1", dependencies=auth)
    return app
