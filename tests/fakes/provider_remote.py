"""The fake provider out of process: start it standalone and script it over its control endpoints.

For tests where the code under test runs elsewhere (a VM, a subprocess) and reaches a standalone
fake: ``with standalone(host="0.0.0.0") as fake: fake.queue("gpt-4o", Text("hi"))`` mirrors the
in-process ``FakeProvider`` API (``queue``, ``requests``, ``reset``) over HTTP.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from types import EllipsisType
from typing import Any

import httpx

from tests.fakes.provider import RecordedRequest
from tests.fakes.provider_replies import Error, Reply, Text, ToolCalls

REPO = Path(__file__).resolve().parents[2]


def reply_to_spec(reply: Reply) -> dict[str, Any]:
    """The JSON description ``POST /_fake/queue`` accepts for ``reply``."""
    if isinstance(reply, Text):
        spec: dict[str, Any] = {"kind": "text", **asdict(reply)}
        if reply.stream_error is None:
            spec.pop("stream_error")
        return spec
    if isinstance(reply, ToolCalls):
        return {"kind": "tool_calls", **asdict(reply)}
    if isinstance(reply, Error):
        return {"kind": "error", **asdict(reply)}
    raise TypeError(f"not a reply: {reply!r}")


class RemoteFakeProvider:
    """A standalone fake provider at ``url``, scripted over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def openrouter_base_url(self) -> str:
        return self.url + "/api/v1"

    def queue(self, model: str, *responses: Reply) -> None:
        body = {"model": model, "replies": [reply_to_spec(r) for r in responses]}
        httpx.post(self.url + "/_fake/queue", json=body, timeout=10).raise_for_status()

    @property
    def requests(self) -> list[RecordedRequest]:
        response = httpx.get(self.url + "/_fake/requests", timeout=10)
        response.raise_for_status()
        return [RecordedRequest(**item) for item in response.json()["data"]]

    def configure(
        self,
        *,
        accepted_keys: list[str] | EllipsisType | None = ...,
        context_windows: dict[str, int] | EllipsisType = ...,
    ) -> None:
        """Set what ``FakeProvider.accepted_keys`` / ``.context_windows`` hold in process."""
        body: dict[str, Any] = {}
        if not isinstance(accepted_keys, EllipsisType):
            body["accepted_keys"] = accepted_keys
        if not isinstance(context_windows, EllipsisType):
            body["context_windows"] = context_windows
        httpx.post(self.url + "/_fake/config", json=body, timeout=10).raise_for_status()

    def reset(self) -> None:
        httpx.post(self.url + "/_fake/reset", timeout=10).raise_for_status()


@contextlib.contextmanager
def standalone(
    host: str = "127.0.0.1", port: int = 0, accept_keys: list[str] | None = None
) -> Iterator[RemoteFakeProvider]:
    """Run ``python -m tests.fakes.provider`` until the block exits (port 0: a free one)."""
    command = [sys.executable, "-m", "tests.fakes.provider", "--host", host, "--port", str(port)]
    for key in accept_keys or []:
        command += ["--accept-key", key]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()  # printed once the socket listens
        if not line.startswith("listening on "):
            raise RuntimeError(f"the standalone fake provider did not start (said {line!r})")
        url = line.removeprefix("listening on ")
        url = url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:")
        yield RemoteFakeProvider(url)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()
