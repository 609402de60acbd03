"""Sign in with an API token, sign out."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from orchestrator.web.api_client import ApiClient, ApiError
from orchestrator.web.rendering import render
from orchestrator.web.session import (
    CSRF_FIELD,
    PRESESSION_COOKIE,
    PRESESSION_MAX_AGE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    clear_cookie,
    codec_of,
    csrf_matches,
    new_session,
    session_from_request,
    set_cookie,
)

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    target = "/desks" if session_from_request(request) else "/signin"
    return RedirectResponse(target, status_code=303)


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    if session_from_request(request):
        return RedirectResponse("/desks", status_code=303)
    return _signin_form(request)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    codec = codec_of(request)
    submitted_csrf = form.get(CSRF_FIELD)
    if not codec.check_presession(
        request.cookies.get(PRESESSION_COOKIE),
        submitted_csrf if isinstance(submitted_csrf, str) else None,
    ):
        return _signin_form(request, "Your sign-in form expired. Please try again.", 403)
    token = form.get("token")
    token = token.strip() if isinstance(token, str) else ""
    if not token:
        return _signin_form(request, "Paste your API token.", 422)
    try:
        me = await ApiClient(request, token).get("/v1/me")
    except ApiError as error:
        if error.status in (401, 403):
            return _signin_form(request, "This token is not valid (or was revoked).", 401)
        return _signin_form(request, f"The server could not check the token ({error.status}).", 502)
    name = str(me.get("name", "")) if isinstance(me, dict) else ""
    response = RedirectResponse("/desks", status_code=303)
    set_cookie(response, SESSION_COOKIE, codec.seal(new_session(token, name)), SESSION_MAX_AGE)
    clear_cookie(response, PRESESSION_COOKIE)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    session = session_from_request(request)
    form = await request.form()
    submitted = form.get(CSRF_FIELD)
    if session is not None and not csrf_matches(
        session, submitted if isinstance(submitted, str) else None
    ):
        return Response("Missing or wrong CSRF token: reload the page and try again.", 403)
    response = RedirectResponse("/signin", status_code=303)
    clear_cookie(response, SESSION_COOKIE)
    return response


def _signin_form(request: Request, error: str | None = None, status: int = 200) -> Response:
    value, cookie = codec_of(request).new_presession()
    response = render(
        request,
        "signin.html",
        None,
        status_code=status,
        csrf=value,
        errors={"token": error} if error else {},
    )
    set_cookie(response, PRESESSION_COOKIE, cookie, PRESESSION_MAX_AGE)
    return response
