"""OpenAI's error body ``{"error": {message, type, param, code}}`` for every failure we answer.

Raise ``OpenAIError`` anywhere below a route; ``install_error_handlers`` turns it, FastAPI's request
validation errors (400, not 422: the SDKs expect 400) and unknown routes into that body.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class OpenAIError(Exception):
    """An error answered to the client in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def invalid(param: str, message: str, code: str | None = None) -> OpenAIError:
    """A 400 naming the offending field (``param``)."""
    return OpenAIError(400, message, param=param, code=code)


def not_found(kind: str, object_id: str) -> OpenAIError:
    """OpenAI's 404 wording: ``No assistant found with id 'asst_x'.``"""
    return OpenAIError(404, f"No {kind} found with id '{object_id}'.")


def _param_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _validation_message(error: dict[str, Any], param: str | None) -> str:
    msg = str(error.get("msg", "Invalid value"))
    if error.get("type") == "missing":
        return f"Missing required parameter: '{param}'."
    if error.get("type") == "extra_forbidden":
        return f"Unknown parameter: '{param}'."
    if param:
        return f"Invalid value for '{param}': {msg}"
    return msg


async def _openai_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OpenAIError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first: dict[str, Any] = dict(errors[0]) if errors else {}
    if first.get("type") == "json_invalid":
        err = OpenAIError(400, "We could not parse the JSON body of your request.")
        return JSONResponse(err.body(), status_code=400)
    param = _param_of(tuple(first.get("loc", ())))
    err = OpenAIError(400, _validation_message(first, param), param=param)
    return JSONResponse(err.body(), status_code=400)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = f"Invalid URL ({request.method} {request.url.path})"
    else:
        message = str(exc.detail)
    type_ = "invalid_request_error"
    if exc.status_code == 401:
        type_ = "authentication_error"
    err = OpenAIError(exc.status_code, message, type=type_)
    return JSONResponse(err.body(), status_code=exc.status_code, headers=exc.headers)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    err = OpenAIError(500, "The server had an error processing your request.", type="server_error")
    return JSONResponse(err.body(), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OpenAIError, _openai_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
