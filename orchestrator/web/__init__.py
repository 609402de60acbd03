"""The web interface, served by the control plane itself (same origin, same auth).

``mount_web(app, settings)`` adds the pages, the bundled static assets (no CDN, no build step) and
the session middleware that lets the pages' JavaScript call the JSON API with the browser session.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from orchestrator.web.api_client import ApiError
from orchestrator.web.cookie_secret import load_cookie_secret
from orchestrator.web.middleware import SessionAuthMiddleware
from orchestrator.web.rendering import STATIC_DIR, render
from orchestrator.web.routes_auth import router as auth_router
from orchestrator.web.routes_desks import SignInRequired
from orchestrator.web.routes_desks import router as desks_router
from orchestrator.web.session import (
    SESSION_COOKIE,
    SessionCodec,
    clear_cookie,
    session_from_request,
)

__all__ = ["STATIC_PATH", "mount_web"]

STATIC_PATH = "/static/web"


def mount_web(app: FastAPI, settings: object) -> None:
    """Serve the web interface from ``app``. Call once, in the app factory, before startup."""
    codec = SessionCodec(load_cookie_secret(settings))
    app.state.bureau_web_codec = codec
    app.include_router(auth_router)
    app.include_router(desks_router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="web-static")
    app.add_exception_handler(SignInRequired, _sign_in_again)
    app.add_exception_handler(ApiError, _api_failed)
    app.add_middleware(SessionAuthMiddleware, codec=codec)


async def _sign_in_again(request: Request, exc: Exception) -> Response:
    if "application/json" in request.headers.get("accept", ""):
        response: Response = JSONResponse({"detail": "sign in again"}, status_code=401)
    else:
        response = RedirectResponse("/signin", status_code=303)
    clear_cookie(response, SESSION_COOKIE)
    return response


async def _api_failed(request: Request, exc: Exception) -> Response:
    status = exc.status if isinstance(exc, ApiError) else 500
    return render(
        request,
        "error.html",
        session_from_request(request),
        status_code=502,
        message=f"The control plane could not answer this page (status {status}). Try again.",
    )
