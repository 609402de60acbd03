"""Scripting the fake provider over HTTP, and running it standalone as a VM would reach it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider import Call, Error, Text, ToolCalls, rate_limited
from tests.fakes.provider_remote import RemoteFakeProvider, standalone
from tests.helpers.servers import free_port
from tests.helpers.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
USER: list[Any] = [{"role": "user", "content": "hi"}]


def test_queue_endpoint_scripts_text_tool_calls_and_errors(
    fake_provider: FakeProviderServer,
) -> None:
    replies = [
        {"kind": "text", "content": "from the control plane"},
        {"kind": "tool_calls", "calls": [{"name": "shell", "arguments": {"command": "ls"}}]},
        {"kind": "error", "status": 429, "message": "slow down", "headers": {"retry-after": "3"}},
    ]
    answer = httpx.post(
        fake_provider.url + "/_fake/queue", json={"model": "gpt-4o", "replies": replies}
    )
    assert answer.json() == {"model": "gpt-4o", "queued": 3, "pending": 3}
    tools: Any = [{"type": "function", "function": {"name": "shell", "parameters": {}}}]
    with openai.OpenAI(
        base_url=fake_provider.openai_base_url, api_key="sk-x", max_retries=0
    ) as client:
        first = client.chat.completions.create(model="gpt-4o", messages=USER, tools=tools)
        second = client.chat.completions.create(model="gpt-4o", messages=USER, tools=tools)
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="gpt-4o", messages=USER, tools=tools)
    assert first.choices[0].message.content == "from the control plane"
    (call,) = second.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.arguments == '{"command": "ls"}'
    assert raised.value.response.headers["retry-after"] == "3"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "m"}, "need a model and a replies list"),
        ({"model": "m", "replies": [{"kind": "poem"}]}, "kind must be one of"),
        ({"model": "m", "replies": [{"kind": "text"}]}, "string content"),
        ({"model": "m", "replies": [{"kind": "error", "status": 200}]}, "between 400 and 599"),
        ({"model": "m", "replies": [{"kind": "tool_calls", "calls": []}]}, "non-empty calls"),
        ({"model": "m", "replies": [{"kind": "text", "content": "x", "delay": -1}]}, "delay"),
    ],
)
def test_queue_endpoint_refuses_malformed_replies(
    fake_provider: FakeProviderServer, body: dict[str, Any], message: str
) -> None:
    answer = httpx.post(fake_provider.url + "/_fake/queue", json=body)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert fake_provider.provider.pending("m") == 0


def test_queue_endpoint_scripts_a_stream_error(fake_provider: FakeProviderServer) -> None:
    reply = {"kind": "text", "content": "cut", "stream_error": {"status": 500, "message": "boom"}}
    httpx.post(fake_provider.url + "/_fake/queue", json={"model": "gpt-4o", "replies": [reply]})
    with (
        openai.OpenAI(
            base_url=fake_provider.openai_base_url, api_key="sk-x", max_retries=0
        ) as client,
        pytest.raises(openai.InternalServerError, match="boom"),
    ):
        client.chat.completions.create(model="gpt-4o", messages=USER)


def test_config_endpoint_sets_keys_and_context_windows(fake_provider: FakeProviderServer) -> None:
    remote = RemoteFakeProvider(fake_provider.url)
    remote.configure(accepted_keys=["sk-a"], context_windows={"tiny": 2})
    assert fake_provider.provider.accepted_keys == {"sk-a"}
    assert fake_provider.provider.context_windows == {"tiny": 2}
    remote.configure(accepted_keys=None)
    assert fake_provider.provider.accepted_keys is None
    assert fake_provider.provider.context_windows == {"tiny": 2}


@pytest.mark.parametrize(
    "body", [{"accepted_keys": "sk-a"}, {"context_windows": {"m": "big"}}, {"context_windows": []}]
)
def test_config_endpoint_refuses_malformed_settings(
    fake_provider: FakeProviderServer, body: dict[str, Any]
) -> None:
    answer = httpx.post(fake_provider.url + "/_fake/config", json=body)
    assert answer.status_code == 400
    assert fake_provider.provider.accepted_keys is None


def test_requests_endpoint_lists_what_was_sent(fake_provider: FakeProviderServer) -> None:
    with openai.OpenAI(
        base_url=fake_provider.openai_base_url, api_key="sk-x", max_retries=0
    ) as client:
        client.chat.completions.create(model="gpt-4o", messages=USER)
    (sent,) = httpx.get(fake_provider.url + "/_fake/requests").json()["data"]
    assert sent["method"] == "POST"
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == "Bearer sk-x"
    assert sent["json"]["messages"] == USER


def test_reset_endpoint_clears_scripts_and_requests(fake_provider: FakeProviderServer) -> None:
    httpx.post(
        fake_provider.url + "/_fake/queue",
        json={"model": "gpt-4o", "replies": [{"kind": "text", "content": "x"}]},
    )
    httpx.get(fake_provider.openai_base_url + "/models", headers={"Authorization": "Bearer k"})
    assert httpx.post(fake_provider.url + "/_fake/reset").json() == {"reset": True}
    assert fake_provider.provider.pending("gpt-4o") == 0
    assert fake_provider.provider.requests == []


@pytest.fixture(scope="module")
def standalone_server() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``python -m tests.fakes.provider`` on a free port, stopped after the module."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.provider", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: httpx.get(url + "/api/v1/models").status_code == 200,
            timeout=30,
            message="standalone fake provider answering",
        )
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def test_standalone_announces_its_address(
    standalone_server: tuple[str, subprocess.Popen[str]],
) -> None:
    url, process = standalone_server
    assert process.stdout is not None
    assert process.stdout.readline().strip() == f"listening on {url}"


def test_standalone_is_scripted_over_http_and_serves_both_sdks(
    standalone_server: tuple[str, subprocess.Popen[str]],
) -> None:
    url, _ = standalone_server
    httpx.post(url + "/_fake/reset")
    replies = [{"kind": "text", "content": "scripted remotely", "chunks": 2}]
    httpx.post(url + "/_fake/queue", json={"model": "claude-sonnet-4-6", "replies": replies})
    with openai.OpenAI(base_url=url + "/v1", api_key="sk-vm", max_retries=0) as oai:
        echoed = oai.chat.completions.create(model="gpt-4o", messages=USER)
    with anthropic.Anthropic(base_url=url, api_key="sk-ant-vm", max_retries=0) as claude:
        with claude.messages.stream(
            model="claude-sonnet-4-6", max_tokens=50, messages=USER
        ) as stream:
            streamed = list(stream.text_stream)
    assert echoed.choices[0].message.content == "echo: hi"
    assert streamed == ["scripted ", "remotely"]
    paths = [r["path"] for r in httpx.get(url + "/_fake/requests").json()["data"]]
    assert paths == ["/v1/chat/completions", "/v1/messages"]


def test_standalone_port_zero_announces_the_chosen_port_and_restricts_keys() -> None:
    with standalone(port=0, accept_keys=["sk-only"]) as fake:
        assert fake.url.startswith("http://127.0.0.1:")
        with openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-only", max_retries=0) as ok:
            assert [m.id for m in ok.models.list()]
        with (
            openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-other", max_retries=0) as no,
            pytest.raises(openai.AuthenticationError),
        ):
            no.models.list()


def test_remote_provider_mirrors_the_in_process_api(
    standalone_server: tuple[str, subprocess.Popen[str]],
) -> None:
    fake = RemoteFakeProvider(standalone_server[0])
    fake.reset()
    fake.queue(
        "gpt-4o",
        ToolCalls([Call("shell", {"command": "pwd"}, id="call_1")], text="running"),
        Text("done", chunks=2, stream_error=Error(500, "broke")),
        rate_limited(retry_after=2),
    )
    tools: Any = [{"type": "function", "function": {"name": "shell", "parameters": {}}}]
    with openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-r", max_retries=0) as client:
        first = client.chat.completions.create(model="gpt-4o", messages=USER, tools=tools)
        with pytest.raises(openai.InternalServerError, match="broke"):
            client.chat.completions.create(model="gpt-4o", messages=USER)
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model="gpt-4o", messages=USER)
    assert first.choices[0].message.content == "running"
    assert [c.id for c in first.choices[0].message.tool_calls or []] == ["call_1"]
    assert limited.value.response.headers["retry-after"] == "2"
    sent = fake.requests
    assert [r.path for r in sent] == ["/v1/chat/completions"] * 3
    assert sent[0].json["tools"] == tools
