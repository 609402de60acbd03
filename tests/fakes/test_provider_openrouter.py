"""The fake provider's OpenRouter variant: OpenAI's shape under /api/v1, with its extras."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider import Call, Text, ToolCalls

MODEL = "anthropic/claude-sonnet-4.5"
USER: list[Any] = [{"role": "user", "content": "route me"}]


@pytest.fixture
def client(fake_provider: FakeProviderServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=fake_provider.openrouter_base_url, api_key="sk-or-v1-test", max_retries=0
    ) as client:
        yield client


def test_chat_completion_in_openrouter_shape(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=USER)
    assert completion.choices[0].message.content == "echo: route me"
    assert completion.id.startswith("gen-")
    assert (completion.model_extra or {})["provider"] == "Fake"
    assert fake_provider.provider.requests[0].path == "/api/v1/chat/completions"


def test_scripts_are_keyed_by_the_openrouter_model_name(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, ToolCalls([Call("lookup", {"id": 7})]))
    tools: Any = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    completion = client.chat.completions.create(model=MODEL, messages=USER, tools=tools)
    (call,) = completion.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.name == "lookup"


def test_stream_with_processing_comments_parses_in_the_sdk(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("streamed via router"))
    stream = client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "streamed via router"


def test_stream_starts_with_an_sse_comment(fake_provider: FakeProviderServer) -> None:
    response = httpx.post(
        fake_provider.openrouter_base_url + "/chat/completions",
        headers={"Authorization": "Bearer sk-or-v1-test"},
        json={"model": MODEL, "messages": USER, "stream": True},
    )
    assert response.text.startswith(": OPENROUTER PROCESSING\n\n")
    assert response.text.endswith("data: [DONE]\n\n")


def test_models_carry_name_context_length_and_pricing(client: openai.OpenAI) -> None:
    models = {m.id: m.model_extra or {} for m in client.models.list()}
    assert MODEL in models
    extra = models[MODEL]
    assert extra["name"] == "Anthropic: Claude Sonnet 4.5"
    assert extra["context_length"] > 0
    assert set(extra["pricing"]) >= {"prompt", "completion"}


def test_models_list_is_public_like_openrouters(fake_provider: FakeProviderServer) -> None:
    response = httpx.get(fake_provider.openrouter_base_url + "/models")
    assert response.status_code == 200
    assert response.json()["data"]


@pytest.mark.parametrize("path", ["/key", "/auth/key"])
def test_key_endpoint_checks_the_key(fake_provider: FakeProviderServer, path: str) -> None:
    url = fake_provider.openrouter_base_url + path
    good = httpx.get(url, headers={"Authorization": "Bearer sk-or-v1-abcd"})
    bad = httpx.get(url, headers={"Authorization": "Bearer sk-or-invalid"})
    assert good.json()["data"]["label"].endswith("abcd")
    assert bad.status_code == 401


def test_invalid_key_is_an_authentication_error(fake_provider: FakeProviderServer) -> None:
    with (
        openai.OpenAI(
            base_url=fake_provider.openrouter_base_url, api_key="sk-or-invalid", max_retries=0
        ) as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.chat.completions.create(model=MODEL, messages=USER)


def test_embeddings_under_the_openrouter_prefix(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model="openai/text-embedding-3-small", input="hi")
    assert len(response.data[0].embedding) == 1536
