"""The pages' server side talks to the control plane's own JSON API, in process.

Going through the public API (rather than the data layer) keeps the web interface a client like
the CLI: the same authentication, ownership checks and validation apply. Requests run through
``httpx.ASGITransport`` on the same application object, so nothing leaves the process.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.requests import HTTPConnection

INTERNAL_BASE_URL = "https://bureau.internal"


class ApiError(Exception):
    """The API answered with an error status; ``detail`` is its parsed ``detail`` (or text)."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"API answered {status}")
        self.status = status
        self.detail = detail


class ApiClient:
    def __init__(self, conn: HTTPConnection, token: str) -> None:
        self._app = conn.app
        self._headers = {"authorization": f"Bearer {token}", "accept": "application/json"}

    async def request(self, method: str, path: str, json_body: Any = None) -> Any:
        transport = httpx.ASGITransport(app=self._app)
        async with httpx.AsyncClient(
            transport=transport, base_url=INTERNAL_BASE_URL, headers=self._headers, timeout=60
        ) as client:
            response = await client.request(method, path, json=json_body)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)

    async def post(self, path: str, json_body: Any = None) -> Any:
        return await self.request("POST", path, json_body)

    async def put(self, path: str, json_body: Any = None) -> Any:
        return await self.request("PUT", path, json_body)

    async def delete(self, path: str) -> Any:
        return await self.request("DELETE", path)


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text
    if isinstance(body, dict):
        if "detail" in body:
            return body["detail"]
        if "error" in body:
            return body["error"]
    return body
