"""Desk pages: list, create, the desk itself (progress + chat), settings, memory, actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from orchestrator.web.api_client import ApiClient, ApiError
from orchestrator.web.forms import FORM_LEVEL, DeskForm, ProviderFields, explain_api_error
from orchestrator.web.rendering import not_found, render
from orchestrator.web.session import CSRF_FIELD, WebSession, csrf_matches, session_from_request
from orchestrator.web.views import DeskView, desk_view, desks_of

router = APIRouter(include_in_schema=False)
ACTIONS = ("start", "stop", "restart")
PAGE_SIZE = 100


class SignInRequired(Exception):
    """No valid session, or the API no longer accepts its token."""


def _session(request: Request) -> WebSession:
    session = session_from_request(request)
    if session is None:
        raise SignInRequired
    return session


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


async def _checked_form(request: Request, session: WebSession) -> dict[str, Any] | None:
    """The posted form, or None when its CSRF token (field or header) is missing or wrong."""
    form = await request.form()
    submitted = form.get(CSRF_FIELD) or request.headers.get("x-csrf-token")
    if not csrf_matches(session, submitted if isinstance(submitted, str) else None):
        return None
    return dict(form)


def _csrf_refused() -> Response:
    return Response("Missing or wrong CSRF token: reload the page and try again.", 403)


def _signed_out_check(error: ApiError) -> None:
    """An API 401 means the session's token no longer works: send the user to sign in."""
    if error.status == 401:
        raise SignInRequired from error


def _form_done(request: Request, target: str) -> Response:
    """A form succeeded: scripts get the target as JSON, plain forms a 303 redirect."""
    if _wants_json(request):
        return JSONResponse({"redirect": target})
    return RedirectResponse(target, status_code=303)


def _form_failed(
    request: Request, errors: dict[str, str], page: Callable[[], Response]
) -> Response:
    """A form failed: scripts get the field errors as JSON (422), plain forms the page again."""
    if _wants_json(request):
        return JSONResponse({"errors": errors}, status_code=422)
    return page()


async def _desk(request: Request, session: WebSession, desk_id: str) -> DeskView | None:
    try:
        return desk_view(await ApiClient(request, session.token).get(f"/v1/desks/{desk_id}"))
    except ApiError as error:
        _signed_out_check(error)
        if error.status in (403, 404, 422):
            return None
        raise


@router.get("/desks")
async def desks_page(request: Request) -> Response:
    session = _session(request)
    after = request.query_params.get("after", "")
    query = urlencode({"limit": PAGE_SIZE, **({"after": after} if after else {})})
    try:
        payload = await ApiClient(request, session.token).get(f"/v1/desks?{query}")
    except ApiError as error:
        _signed_out_check(error)
        if error.status in (400, 422) and after:
            return RedirectResponse("/desks", status_code=303)
        raise
    desks = [desk for desk in desks_of(payload) if desk.state != "deleted"]
    more = (
        payload.get("next_cursor")
        if isinstance(payload, dict) and payload.get("has_more")
        else None
    )
    return render(request, "desks.html", session, desks=desks, nav="desks", more=more)


@router.get("/desks/new")
async def new_desk_page(request: Request) -> Response:
    session = _session(request)
    return render(request, "desk_new.html", session, form=DeskForm(), nav="new")


@router.post("/desks/new")
async def create_desk(request: Request) -> Response:
    session = _session(request)
    raw = await _checked_form(request, session)
    if raw is None:
        return _csrf_refused()
    form = DeskForm.from_form(raw)
    errors = form.check()
    if not errors:
        try:
            created = await ApiClient(request, session.token).post("/v1/desks", form.body())
        except ApiError as error:
            _signed_out_check(error)
            errors = explain_api_error(error.status, error.detail, form.provider.secrets())
        else:
            return _form_done(request, f"/desks/{created['id']}")
    return _form_failed(
        request,
        errors,
        lambda: render(request, "desk_new.html", session, 422, form=form, errors=errors, nav="new"),
    )


@router.get("/desks/{desk_id}")
async def desk_page(request: Request, desk_id: str) -> Response:
    session = _session(request)
    desk = await _desk(request, session, desk_id)
    if desk is None:
        return not_found(request, session, "desk")
    return render(request, "desk.html", session, desk=desk, tab="desk")


@router.get("/desks/{desk_id}/memory")
async def memory_page(request: Request, desk_id: str) -> Response:
    session = _session(request)
    desk = await _desk(request, session, desk_id)
    if desk is None:
        return not_found(request, session, "desk")
    return render(request, "memory.html", session, desk=desk, tab="memory")


@router.get("/desks/{desk_id}/settings")
async def settings_page(request: Request, desk_id: str) -> Response:
    session = _session(request)
    desk = await _desk(request, session, desk_id)
    if desk is None:
        return not_found(request, session, "desk")
    fields = ProviderFields(
        provider=desk.provider,
        endpoint=desk.endpoint,
        model=desk.model,
        longer_context_model=desk.longer_context_model,
        max_tool_calls=desk.max_tool_calls or "10",
        emb_enabled=bool(desk.embeddings_provider),
        emb_provider=desk.embeddings_provider or "openai",
        emb_model=desk.embeddings_model,
        emb_endpoint=desk.embeddings_endpoint,
        emb_key_mode="reuse" if desk.embeddings_provider in ("", desk.provider) else "own",
    )
    notice = request.query_params.get("done")
    return render(
        request, "settings.html", session, desk=desk, form=fields, tab="settings", notice=notice
    )


@router.post("/desks/{desk_id}/settings")
async def rotate_provider(request: Request, desk_id: str) -> Response:
    session = _session(request)
    raw = await _checked_form(request, session)
    if raw is None:
        return _csrf_refused()
    desk = await _desk(request, session, desk_id)
    if desk is None:
        return not_found(request, session, "desk")
    fields = ProviderFields.from_form(raw)
    errors = fields.check()
    if not errors:
        try:
            client = ApiClient(request, session.token)
            await client.put(f"/v1/desks/{desk_id}/provider", fields.provider_body())
            tuning = fields.tuning_body()
            current = {
                "longer_context_model": desk.longer_context_model or None,
                "max_tool_calls": int(desk.max_tool_calls or 10),
            }
            if tuning != current:
                await client.request("PATCH", f"/v1/desks/{desk_id}", tuning)
        except ApiError as error:
            _signed_out_check(error)
            errors = explain_api_error(error.status, error.detail, fields.secrets())
        else:
            return _form_done(request, f"/desks/{desk_id}/settings?done=provider")

    def page() -> Response:
        fields.api_key = fields.emb_api_key = ""  # never echo a key back into the page
        return render(
            request,
            "settings.html",
            session,
            422,
            desk=desk,
            form=fields,
            errors=errors,
            tab="settings",
        )

    return _form_failed(request, errors, page)


@router.post("/desks/{desk_id}/delete")
async def delete_desk(request: Request, desk_id: str) -> Response:
    session = _session(request)
    raw = await _checked_form(request, session)
    if raw is None:
        return _csrf_refused()
    desk = await _desk(request, session, desk_id)
    if desk is None:
        return not_found(request, session, "desk")
    if raw.get("confirm_name", "").strip() != desk.name:
        errors = {"confirm_name": "Type the desk's name exactly to confirm the deletion."}
        return _settings_with_errors(request, session, desk, errors)
    try:
        await ApiClient(request, session.token).delete(f"/v1/desks/{desk_id}")
    except ApiError as error:
        _signed_out_check(error)
        return _settings_with_errors(request, session, desk, _action_error(error))
    return RedirectResponse("/desks", status_code=303)


@router.post("/desks/{desk_id}/{action}")
async def desk_action(request: Request, desk_id: str, action: str) -> Response:
    session = _session(request)
    if action not in ACTIONS:
        return not_found(request, session)
    raw = await _checked_form(request, session)
    if raw is None:
        return _csrf_refused()
    desk = await _desk(request, session, desk_id)
    if desk is None:
        return not_found(request, session, "desk")
    try:
        await ApiClient(request, session.token).post(f"/v1/desks/{desk_id}/{action}")
    except ApiError as error:
        _signed_out_check(error)
        return _settings_with_errors(request, session, desk, _action_error(error))
    return RedirectResponse(f"/desks/{desk_id}", status_code=303)


def _action_error(error: ApiError) -> dict[str, str]:
    if error.status == 409:
        detail = error.detail
        message = detail.get("message", str(detail)) if isinstance(detail, dict) else str(detail)
        return {FORM_LEVEL: f"Not possible in the desk's current state: {message}"}
    return {FORM_LEVEL: explain_api_error(error.status, error.detail).popitem()[1]}


def _settings_with_errors(
    request: Request, session: WebSession, desk: DeskView, errors: dict[str, str]
) -> Response:
    fields = ProviderFields(provider=desk.provider, model=desk.model, endpoint=desk.endpoint)
    return render(
        request,
        "settings.html",
        session,
        409,
        desk=desk,
        form=fields,
        errors=errors,
        tab="settings",
    )
