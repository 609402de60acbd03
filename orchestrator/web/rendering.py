"""Template rendering with the security headers every page carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from orchestrator.web.providers import EMBEDDINGS_PROVIDERS, PROVIDERS
from orchestrator.web.session import CSRF_FIELD, WebSession

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals.update(
    providers=PROVIDERS, embeddings_providers=EMBEDDINGS_PROVIDERS, csrf_field=CSRF_FIELD
)


def render(
    request: Request,
    name: str,
    session: WebSession | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    context.setdefault("errors", {})
    context.update(
        session=session,
        csrf=session.csrf if session else context.get("csrf", ""),
        user_name=session.user_name if session else None,
    )
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def not_found(request: Request, session: WebSession | None, what: str = "page") -> Response:
    return render(request, "not_found.html", session, status_code=404, what=what)
