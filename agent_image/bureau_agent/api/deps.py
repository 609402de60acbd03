"""FastAPI dependencies: the services and the caller's authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from bureau_agent.api.errors import OpenAIError
from bureau_agent.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_auth(request: Request) -> None:
    """Bearer ``BUREAU_AGENT_TOKEN`` or Azure's ``api-key`` header.

    Under mutual TLS (``create_app(..., mutual_tls=True)``) the TLS handshake already proved the
    peer holds a certificate signed by the desk CA, so no header is needed. Without a configured
    token and without mutual TLS (loopback development only) every caller is accepted.
    """
    if request.app.state.mutual_tls:
        return
    services: Services = request.app.state.services
    token = services.config.agent_token
    if token is None:
        return
    expected = token.get_secret_value()
    header = request.headers.get("authorization", "")
    given = header[7:].strip() if header.lower().startswith("bearer ") else ""
    given = given or request.headers.get("api-key", "")
    if given and hmac.compare_digest(given.encode(), expected.encode()):
        return
    message = (
        "Incorrect API key provided."
        if given
        else "You didn't provide an API key. Use 'Authorization: Bearer <token>'."
    )
    raise OpenAIError(401, message, type="invalid_request_error", code="invalid_api_key")
