"""Control-plane endpoints (mutual TLS in a desk): health and provider key rotation."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from bureau_agent import credentials
from bureau_agent.api.deps import ServicesDep
from bureau_agent.protocol import Health, ProviderUpdate
from bureau_agent.version import __version__

router = APIRouter(tags=["desk"])


def _health(request: Request) -> Health:
    services = request.app.state.services
    provider = services.credentials.provider
    return Health(
        desk_id=request.app.state.desk_id,
        agent_version=__version__,
        status="ok" if provider else "awaiting_key",
        provider=provider.provider if provider else None,
        model=provider.model if provider else None,
        uptime_seconds=round(time.monotonic() - services.started_at, 3),
    )


@router.get("/health")
async def health(request: Request) -> Health:
    return _health(request)


@router.put("/provider")
async def update_provider(body: ProviderUpdate, request: Request, services: ServicesDep) -> Health:
    """Rotate the key: memory first, then the 0600 key file (atomic replace)."""
    services.credentials.provider = credentials.from_wire(body.provider)
    services.credentials.embeddings = body.embeddings
    credentials.save(services.config.secrets_dir, body.provider, body.embeddings)
    return _health(request)
