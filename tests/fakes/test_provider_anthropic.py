"""The fake provider's Anthropic messages API, driven by the official ``anthropic`` SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import Message, TextBlock, ToolUseBlock

from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider import (
    Call,
    Error,
    Text,
    ToolCalls,
    invalid_key,
    prompt_too_long,
    rate_limited,
    server_error,
)

MODEL = "claude-sonnet-4-6"
USER: list[Any] = [{"role": "user", "content": "hello claude"}]
TOOLS: list[Any] = [
    {"name": "search", "description": "find", "input_schema": {"type": "object", "properties": {}}},
    {
        "name": "read",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
    },
]
HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}


@pytest.fixture
def client(fake_provider: FakeProviderServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=fake_provider.anthropic_base_url, api_key="sk-ant-test", max_retries=0
    ) as client:
        yield client


def texts(message: Message) -> list[str]:
    return [b.text for b in message.content if isinstance(b, TextBlock)]


def tool_uses(message: Message) -> list[ToolUseBlock]:
    return [b for b in message.content if isinstance(b, ToolUseBlock)]


def create(client: anthropic.Anthropic, **kwargs: Any) -> Message:
    params: dict[str, Any] = {"model": MODEL, "max_tokens": 1024, "messages": USER, **kwargs}
    return client.messages.create(**params)


def test_unscripted_answer_echoes_the_last_user_text(client: anthropic.Anthropic) -> None:
    message = create(client, system="be brief")
    assert texts(message) == ["echo: hello claude"]
    assert (message.type, message.role, message.model) == ("message", "assistant", MODEL)
    assert message.stop_reason == "end_turn"
    assert message.id.startswith("msg_")


def test_system_blocks_and_content_blocks_are_accepted(client: anthropic.Anthropic) -> None:
    messages: list[Any] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "block "}, {"type": "text", "text": "two"}],
        }
    ]
    message = create(client, system=[{"type": "text", "text": "rules"}], messages=messages)
    assert texts(message) == ["echo: block two"]


def test_usage_counts_input_and_output_tokens(client: anthropic.Anthropic) -> None:
    message = create(client)
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens == 3


def test_scripted_text_is_served_once(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("scripted"))
    assert texts(create(client)) == ["scripted"]
    assert texts(create(client)) == ["echo: hello claude"]


def test_max_tokens_cuts_the_answer_with_stop_reason_max_tokens(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("a b c d e f"))
    message = create(client, max_tokens=3)
    assert texts(message) == ["a b c"]
    assert message.stop_reason == "max_tokens"


def test_stop_sequence_cuts_the_answer_and_is_reported(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("alpha STOP beta"), Text("alpha STOP beta"))
    message = create(client, stop_sequences=["STOP"])
    assert texts(message) == ["alpha "]
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "STOP")
    with client.messages.stream(
        model=MODEL, max_tokens=100, messages=USER, stop_sequences=["STOP"]
    ) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "STOP")


def test_scripted_length_finish_is_reported_as_max_tokens(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("cut", finish_reason="length"))
    assert create(client).stop_reason == "max_tokens"


def test_directive_becomes_tool_use_and_its_result_is_summarised(
    client: anthropic.Anthropic,
) -> None:
    messages: list[Any] = [{"role": "user", "content": 'do [[tool:read {"path": "a.txt"}]]'}]
    first = create(client, messages=messages, tools=TOOLS)
    (use,) = tool_uses(first)
    assert (use.name, use.input) == ("read", {"path": "a.txt"})
    assert use.id.startswith("toolu_")
    assert first.stop_reason == "tool_use"
    messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    result = {"type": "tool_result", "tool_use_id": use.id, "content": "file body"}
    messages.append({"role": "user", "content": [result]})
    second = create(client, messages=messages, tools=TOOLS)
    assert texts(second) == ["tool read returned: file body"]
    assert second.stop_reason == "end_turn"


def test_tool_result_blocks_content_is_read(client: anthropic.Anthropic) -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}}
    result = {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": [{"type": "text", "text": "three hits"}],
    }
    messages: list[Any] = [
        {"role": "user", "content": "find"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [result]},
    ]
    assert texts(create(client, messages=messages, tools=TOOLS)) == [
        "tool search returned: three hits"
    ]


def test_scripted_parallel_tool_uses_with_leading_text(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(
        MODEL,
        ToolCalls([Call("search", {"q": "x"}), Call("read", {"path": "b"})], text="Looking."),
    )
    message = create(client, tools=TOOLS)
    assert texts(message) == ["Looking."]
    assert [(u.name, u.input) for u in tool_uses(message)] == [
        ("search", {"q": "x"}),
        ("read", {"path": "b"}),
    ]


def test_disable_parallel_tool_use_returns_one_tool_use(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, ToolCalls([Call("search"), Call("read")]))
    message = create(
        client, tools=TOOLS, tool_choice={"type": "auto", "disable_parallel_tool_use": True}
    )
    assert len(tool_uses(message)) == 1


def test_tool_choice_any_forces_the_first_tool(client: anthropic.Anthropic) -> None:
    message = create(client, tools=TOOLS, tool_choice={"type": "any"})
    assert [(u.name, u.input) for u in tool_uses(message)] == [("search", {})]
    assert message.stop_reason == "tool_use"


def test_tool_choice_tool_forces_that_tool(client: anthropic.Anthropic) -> None:
    message = create(client, tools=TOOLS, tool_choice={"type": "tool", "name": "read"})
    assert [u.name for u in tool_uses(message)] == ["read"]


def test_tool_choice_none_never_uses_tools(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, ToolCalls([Call("search")]))
    message = create(client, tools=TOOLS, tool_choice={"type": "none"})
    assert tool_uses(message) == []
    assert texts(message) == ["echo: hello claude"]


def test_stream_events_come_in_anthropics_order(fake_provider: FakeProviderServer) -> None:
    fake_provider.provider.queue(MODEL, ToolCalls([Call("search", {"q": "x"})], text="Hi there"))
    body = {"model": MODEL, "max_tokens": 100, "messages": USER, "tools": TOOLS, "stream": True}
    response = httpx.post(fake_provider.url + "/v1/messages", headers=HEADERS, json=body)
    events = [e.split("\n")[0].removeprefix("event: ") for e in response.text.split("\n\n") if e]
    assert events == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    data = [json.loads(e.split("\ndata: ")[1]) for e in response.text.split("\n\n") if e]
    assert data[-2]["delta"]["stop_reason"] == "tool_use"
    assert data[0]["message"]["content"] == []


def test_stream_text_and_final_message(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == "echo: hello claude"
    assert len(pieces) == 3
    assert texts(final) == ["echo: hello claude"]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3


def test_stream_uses_the_scripted_number_of_deltas(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("0123456789", chunks=5))
    with client.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
        pieces = list(stream.text_stream)
    assert pieces == ["01", "23", "45", "67", "89"]


def test_stream_accumulates_tool_use_input(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    arguments = {"q": "deep search", "filters": {"lang": ["en", "fr"]}, "limit": 5}
    fake_provider.provider.queue(MODEL, ToolCalls([Call("search", arguments), Call("read", {})]))
    with client.messages.stream(model=MODEL, max_tokens=100, messages=USER, tools=TOOLS) as stream:
        json_deltas = [e for e in stream if e.type == "input_json"]
        final = stream.get_final_message()
    assert [(u.name, u.input) for u in tool_uses(final)] == [("search", arguments), ("read", {})]
    assert final.stop_reason == "tool_use"
    assert len(json_deltas) >= 3


def test_stream_error_event_breaks_the_stream(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    overloaded = Error(529, "Overloaded")
    fake_provider.provider.queue(MODEL, Text("half a", stream_error=overloaded))
    seen: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as raised,
        client.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream,
    ):
        for piece in stream.text_stream:
            seen.append(piece)
    assert "".join(seen) == "half a"
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def test_count_tokens_matches_the_usage(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model=MODEL, messages=USER)
    assert counted.input_tokens == create(client).usage.input_tokens


def test_tool_result_without_its_tool_use_is_refused(client: anthropic.Anthropic) -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_missing", "content": "x"}
    with pytest.raises(anthropic.BadRequestError, match="toolu_missing"):
        create(client, messages=[{"role": "user", "content": [result]}])


def test_tool_use_without_its_result_is_refused(client: anthropic.Anthropic) -> None:
    use = {"type": "tool_use", "id": "toolu_open", "name": "search", "input": {}}
    messages: list[Any] = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": "and?"},
    ]
    with pytest.raises(anthropic.BadRequestError, match="toolu_open"):
        create(client, messages=messages, tools=TOOLS)


def test_system_role_in_messages_is_refused(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="role"):
        create(client, messages=[{"role": "system", "content": "no"}])


def test_empty_user_content_is_refused(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="non-empty content"):
        create(client, messages=[{"role": "user", "content": []}])


def test_tool_without_input_schema_is_refused(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="input_schema: Field required"):
        create(client, tools=[{"name": "search"}])


def test_tool_name_outside_anthropics_pattern_is_refused(client: anthropic.Anthropic) -> None:
    bad = {"name": "files.read", "input_schema": {"type": "object"}}
    with pytest.raises(anthropic.BadRequestError, match="String should match pattern"):
        create(client, tools=[bad])


def test_final_assistant_prefill_is_continued(client: anthropic.Anthropic) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "say it"},
        {"role": "assistant", "content": "Sure:"},
    ]
    assert texts(create(client, messages=messages)) == ["echo: say it"]


def test_missing_max_tokens_is_a_400(fake_provider: FakeProviderServer) -> None:
    body = {"model": MODEL, "messages": USER}
    response = httpx.post(fake_provider.url + "/v1/messages", headers=HEADERS, json=body)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }


def test_x_api_key_header_is_accepted(fake_provider: FakeProviderServer) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": USER}
    response = httpx.post(fake_provider.url + "/v1/messages", headers=HEADERS, json=body)
    assert response.json()["content"] == [{"type": "text", "text": "echo: hello claude"}]


def test_missing_key_is_an_authentication_error(fake_provider: FakeProviderServer) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": USER}
    headers = {"anthropic-version": "2023-06-01"}
    response = httpx.post(fake_provider.url + "/v1/messages", headers=headers, json=body)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_missing_anthropic_version_is_a_400(fake_provider: FakeProviderServer) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": USER}
    headers = {"x-api-key": "sk-ant-test"}
    response = httpx.post(fake_provider.url + "/v1/messages", headers=headers, json=body)
    assert response.status_code == 400
    assert "anthropic-version" in response.json()["error"]["message"]


def test_key_containing_invalid_is_an_authentication_error(
    fake_provider: FakeProviderServer,
) -> None:
    with (
        anthropic.Anthropic(
            base_url=fake_provider.anthropic_base_url, api_key="sk-ant-invalid", max_retries=0
        ) as client,
        pytest.raises(anthropic.AuthenticationError) as raised,
    ):
        create(client)
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": raised.value.request_id,
    }


@pytest.mark.parametrize(
    ("reply", "exception", "error_type"),
    [
        (invalid_key(), anthropic.AuthenticationError, "authentication_error"),
        (rate_limited(), anthropic.RateLimitError, "rate_limit_error"),
        (server_error(), anthropic.InternalServerError, "api_error"),
        (prompt_too_long(), anthropic.BadRequestError, "invalid_request_error"),
        (Error(529, "Overloaded"), anthropic.OverloadedError, "overloaded_error"),
        (Error(403, "nope"), anthropic.PermissionDeniedError, "permission_error"),
    ],
)
def test_scripted_errors_map_to_sdk_exceptions(
    client: anthropic.Anthropic,
    fake_provider: FakeProviderServer,
    reply: Error,
    exception: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    fake_provider.provider.queue(MODEL, reply)
    with pytest.raises(exception) as raised:
        create(client)
    assert raised.value.status_code == reply.status
    body: Any = raised.value.body
    assert body["error"] == {"type": error_type, "message": reply.message}


def test_prompt_too_long_message_names_the_token_counts(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, prompt_too_long(250_000, 200_000))
    with pytest.raises(
        anthropic.BadRequestError, match="prompt is too long: 250000 tokens > 200000"
    ):
        create(client)


def test_prompt_over_the_context_window_is_too_long(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.context_windows[MODEL] = 3
    long: list[Any] = [{"role": "user", "content": "one two three four five"}]
    with pytest.raises(
        anthropic.BadRequestError, match=r"prompt is too long: \d+ tokens > 3 maximum"
    ):
        create(client, messages=long)


def test_retry_after_is_honoured_by_the_sdk(fake_provider: FakeProviderServer) -> None:
    fake_provider.provider.queue(MODEL, rate_limited(retry_after=1), Text("second try"))
    with anthropic.Anthropic(
        base_url=fake_provider.anthropic_base_url, api_key="sk-ant-test", max_retries=1
    ) as client:
        assert texts(create(client)) == ["second try"]
    assert len(fake_provider.provider.requests) == 2


def test_delay_longer_than_the_client_timeout_times_out(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("late", delay=2))
    with pytest.raises(anthropic.APITimeoutError):
        create(client, timeout=0.2)


def test_requests_record_the_anthropic_headers(
    client: anthropic.Anthropic, fake_provider: FakeProviderServer
) -> None:
    create(client, system="sys")
    (sent,) = fake_provider.provider.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["authorization"] == "Bearer sk-ant-test"  # anthropic 2.x sends a bearer
    assert sent.headers["anthropic-version"]
    assert sent.json["system"] == "sys"


def test_models_list_in_anthropic_shape(client: anthropic.Anthropic) -> None:
    models = list(client.models.list())
    assert MODEL in [m.id for m in models]
    assert all(m.type == "model" and m.display_name for m in models)
    assert client.models.retrieve(MODEL).id == MODEL


def test_models_list_pages(client: anthropic.Anthropic) -> None:
    page = client.models.list(limit=1)
    assert len(page.data) == 1
    assert page.has_more is True
    assert len(list(page)) == 3  # the SDK follows after_id to the last page


def test_unknown_model_is_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-nope")
