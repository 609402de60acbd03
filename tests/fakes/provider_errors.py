"""Error bodies in each API's own shape, so the official SDKs raise their usual exceptions."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from tests.fakes.provider_replies import Error
from tests.fakes.provider_script import new_id

OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    422: "invalid_request_error",
    405: "invalid_request_error",
    429: "requests",
}
OPENAI_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class RequestError(Exception):
    """A request the real API would refuse: rendered as a 4xx in the API's shape."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


def openai_error(error: Error, param: str | None = None) -> JSONResponse:
    """``{"error": {"message", "type", "param", "code"}}`` (OpenAI and OpenRouter)."""
    headers = {"x-request-id": new_id("req_"), **error.headers}
    return JSONResponse(openai_error_body(error, param), status_code=error.status, headers=headers)


def openai_error_body(error: Error, param: str | None = None) -> dict[str, Any]:
    default_type = OPENAI_TYPES.get(error.status, "server_error")
    return {
        "error": {
            "message": error.message,
            "type": error.type or default_type,
            "param": param,
            "code": OPENAI_CODES.get(error.status) if error.code is None else (error.code or None),
        }
    }


def anthropic_error(error: Error) -> JSONResponse:
    """``{"type": "error", "error": {"type", "message"}, "request_id"}`` (Anthropic)."""
    request_id = new_id("req_")
    body = {**anthropic_error_body(error), "request_id": request_id}
    headers = {"request-id": request_id, **error.headers}
    return JSONResponse(body, status_code=error.status, headers=headers)


def anthropic_error_body(error: Error) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {
            "type": error.type or ANTHROPIC_TYPES.get(error.status, "api_error"),
            "message": error.message,
        },
    }
