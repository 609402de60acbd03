"""The FastAPI app factory. Settings, database, PKI and driver are built here, never at import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from orchestrator import redaction
from orchestrator.api import errors
from orchestrator.api.routes import agent, desks, events, providers, proxy, tokens, users
from orchestrator.drivers.base import Driver
from orchestrator.escrow import Escrow
from orchestrator.jobs.maintenance import run_maintenance
from orchestrator.jobs.worker import WorkerPool
from orchestrator.runtime import Runtime, build_runtime
from orchestrator.settings import Settings

log = logging.getLogger("orchestrator")


@contextlib.asynccontextmanager
async def background_work(rt: Runtime, *, workers: bool) -> AsyncIterator[WorkerPool | None]:
    """Run the worker pool and the maintenance loop for the duration of the block."""
    from orchestrator.pool import start_pool, stop_pool  # warm VM pool: no-op unless configured

    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    pool = None
    if workers:
        await start_pool(rt.driver, rt.settings, rt)
        pool = WorkerPool(rt, concurrency=rt.settings.worker_concurrency)
        tasks.append(asyncio.create_task(pool.run(stop), name="bureau-workers"))
        tasks.append(asyncio.create_task(run_maintenance(rt, stop), name="bureau-maintenance"))
    try:
        yield pool
    finally:
        stop.set()
        rt.notifier.notify()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
        if workers:
            await stop_pool()


def create_app(
    settings: Settings | None = None,
    *,
    driver: Driver | None = None,
    escrow: Escrow | None = None,
) -> FastAPI:
    """Build the control plane. ``driver``/``escrow`` are injectable for tests."""
    settings = settings or Settings()
    rt = build_runtime(settings, driver=driver, escrow=escrow)
    redaction.install(rt.escrow.values)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with background_work(rt, workers=settings.run_workers):
            try:
                yield
            finally:
                await rt.agents.aclose()
        rt.close_sync()

    app = FastAPI(
        title="Bureau control plane",
        version="0.1.0",
        summary="One isolated VM per user running an AI coding agent on the user's own key.",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    errors.install(app)
    for module in (users, tokens, desks, events, providers, agent, proxy):
        app.include_router(module.router)
    from orchestrator.pool.api import router as pool_router  # GET /v1/pool, POST /v1/pool/enroll

    app.include_router(pool_router)
    _mount_web(app, settings)
    return app


def _mount_web(app: FastAPI, settings: Settings) -> None:
    """The web UI (orchestrator/web, another engineer's package) when it is present."""
    try:
        from orchestrator.web import mount_web  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return
    mount_web(app, settings)
