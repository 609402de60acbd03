"""Every body the fake sends validates against the SDKs' own pydantic types.

The SDKs build response objects without validation, so a missing required field would pass the
other tests unnoticed; here each raw body goes through ``model_validate``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from anthropic.types import (
    ErrorResponse,
    Message,
    MessageTokensCount,
    ModelInfo,
    RawMessageStreamEvent,
)
from openai.types import CreateEmbeddingResponse
from openai.types import ErrorObject as OpenAIErrorObject
from openai.types import Model as OpenAIModel
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import TypeAdapter

from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider import Call, Error, Text, ToolCalls

OPENAI_HEADERS = {"Authorization": "Bearer sk-test"}
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
TOOL: Any = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
REPLIES = [Text("plain words"), ToolCalls([Call("f", {"a": [1, 2]}), Call("f", {})], text="pre")]


def sse_data(text: str) -> list[Any]:
    return [
        json.loads(line.removeprefix("data: "))
        for line in text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


@pytest.mark.parametrize("reply", REPLIES)
@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
def test_chat_completion_bodies_validate(
    fake_provider: FakeProviderServer, reply: Text | ToolCalls, prefix: str
) -> None:
    fake_provider.provider.queue("*", reply, reply)
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    body["tools"] = [TOOL]
    url = fake_provider.url + prefix + "/chat/completions"
    plain = httpx.post(url, headers=OPENAI_HEADERS, json=body).json()
    ChatCompletion.model_validate(plain)
    streamed = httpx.post(
        url,
        headers=OPENAI_HEADERS,
        json={**body, "stream": True, "stream_options": {"include_usage": True}},
    )
    chunks = sse_data(streamed.text)
    assert chunks
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)


def test_embeddings_and_models_bodies_validate(fake_provider: FakeProviderServer) -> None:
    embeddings = httpx.post(
        fake_provider.openai_base_url + "/embeddings",
        headers=OPENAI_HEADERS,
        json={"model": "text-embedding-3-small", "input": ["a", "b"]},
    )
    CreateEmbeddingResponse.model_validate(embeddings.json())
    models = httpx.get(fake_provider.openai_base_url + "/models", headers=OPENAI_HEADERS).json()
    for model in models["data"]:
        OpenAIModel.model_validate(model)


@pytest.mark.parametrize("reply", REPLIES)
def test_anthropic_message_and_events_validate(
    fake_provider: FakeProviderServer, reply: Text | ToolCalls
) -> None:
    fake_provider.provider.queue("*", reply, reply)
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "x"}],
        "tools": tools,
    }
    url = fake_provider.url + "/v1/messages"
    Message.model_validate(httpx.post(url, headers=ANTHROPIC_HEADERS, json=body).json())
    streamed = httpx.post(url, headers=ANTHROPIC_HEADERS, json={**body, "stream": True})
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    events = [e for e in sse_data(streamed.text) if e["type"] != "ping"]
    assert events
    for event in events:
        adapter.validate_python(event)


def test_anthropic_models_and_count_tokens_validate(fake_provider: FakeProviderServer) -> None:
    models = httpx.get(fake_provider.url + "/v1/models", headers=ANTHROPIC_HEADERS).json()
    for model in models["data"]:
        ModelInfo.model_validate(model)
    counted = httpx.post(
        fake_provider.url + "/v1/messages/count_tokens",
        headers=ANTHROPIC_HEADERS,
        json={"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}]},
    )
    MessageTokensCount.model_validate(counted.json())


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 429, 500, 504, 529])
def test_error_bodies_validate(fake_provider: FakeProviderServer, status: int) -> None:
    fake_provider.provider.queue("*", Error(status, "scripted"), Error(status, "scripted"))
    message = [{"role": "user", "content": "x"}]
    openai_body = httpx.post(
        fake_provider.openai_base_url + "/chat/completions",
        headers=OPENAI_HEADERS,
        json={"model": "m", "messages": message},
    ).json()
    OpenAIErrorObject.model_validate(openai_body["error"])
    anthropic_body = httpx.post(
        fake_provider.url + "/v1/messages",
        headers=ANTHROPIC_HEADERS,
        json={"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": message},
    ).json()
    ErrorResponse.model_validate(anthropic_body)
