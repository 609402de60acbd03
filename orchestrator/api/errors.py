"""Exception -> HTTP response mapping. Bodies never echo request input (keys could be in it)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from orchestrator.desks import DeskConflict, DeskNotFound
from orchestrator.enrollment import EnrollError
from orchestrator.keys import AgentPushFailed
from orchestrator.providers import KeyRejected, ProviderUnavailable
from orchestrator.validation import InvalidInput

log = logging.getLogger("orchestrator.api")


def _field_error(loc: Any, msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


def _human(error: dict[str, Any]) -> str:
    field = ".".join(str(p) for p in error.get("loc", ())[1:]) or "body"
    kind = str(error.get("type", ""))
    if kind == "missing":
        return f"{field} is required"
    if kind == "extra_forbidden":
        return f"{field} is not a field of this request"
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    return f"{field}: {error.get('msg', 'invalid value')}"


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [
        _field_error(e.get("loc", ()), _human(e), str(e.get("type", "value_error")))
        for e in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidInput)
    return JSONResponse({"detail": [_field_error(exc.loc, exc.message)]}, status_code=422)


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "desk not found"}, status_code=404)


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DeskConflict)
    body: dict[str, Any] = {"detail": exc.message}
    if exc.state is not None:
        body["state"] = exc.state
    return JSONResponse(body, status_code=409)


async def _key_rejected(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": [_field_error(("body", "api_key"), "the provider rejected this key")]},
        status_code=422,
    )


async def _bad_gateway(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=502)


async def _enroll(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EnrollError)
    return JSONResponse({"detail": exc.message}, status_code=exc.status)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(InvalidInput, _invalid)
    app.add_exception_handler(DeskNotFound, _not_found)
    app.add_exception_handler(DeskConflict, _conflict)
    app.add_exception_handler(KeyRejected, _key_rejected)
    app.add_exception_handler(ProviderUnavailable, _bad_gateway)
    app.add_exception_handler(AgentPushFailed, _bad_gateway)
    app.add_exception_handler(EnrollError, _enroll)
    app.add_exception_handler(Exception, _internal)
