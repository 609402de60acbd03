"""The fake provider's OpenAI chat completions, driven by the official ``openai`` SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionMessageFunctionToolCall
from pydantic import BaseModel

from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider import (
    Call,
    Error,
    Text,
    ToolCalls,
    context_length_exceeded,
    invalid_key,
    rate_limited,
    server_error,
)

MODEL = "gpt-4o"
USER: list[Any] = [{"role": "user", "content": "hello there"}]


def tool(name: str, strict: bool = False) -> Any:
    schema = {"type": "object", "properties": {}, "additionalProperties": False, "required": []}
    return {"type": "function", "function": {"name": name, "parameters": schema, "strict": strict}}


TOOLS: list[Any] = [tool("get_weather"), tool("get_time")]


def function_calls(completion: ChatCompletion) -> list[ChatCompletionMessageFunctionToolCall]:
    calls = completion.choices[0].message.tool_calls or []
    assert all(isinstance(c, ChatCompletionMessageFunctionToolCall) for c in calls)
    return [c for c in calls if isinstance(c, ChatCompletionMessageFunctionToolCall)]


@pytest.fixture
def client(fake_provider: FakeProviderServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=fake_provider.openai_base_url, api_key="sk-test", max_retries=0
    ) as client:
        yield client


def test_unscripted_answer_echoes_the_last_user_text(client: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second question"},
    ]
    completion = client.chat.completions.create(model=MODEL, messages=messages)
    assert completion.choices[0].message.content == "echo: second question"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.object == "chat.completion"
    assert completion.model == MODEL


def test_usage_counts_prompt_and_completion_tokens(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=USER)
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens == 3  # "echo: hello there"
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_content_parts_are_read_as_text(client: openai.OpenAI) -> None:
    parts = [{"type": "text", "text": "part one, "}, {"type": "text", "text": "part two"}]
    messages: list[Any] = [{"role": "user", "content": parts}]
    completion = client.chat.completions.create(model=MODEL, messages=messages)
    assert completion.choices[0].message.content == "echo: part one, part two"


def test_scripted_replies_are_served_in_order_per_model(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("one"), Text("two"))
    fake_provider.provider.queue("gpt-4o-mini", Text("mini"))
    answers = [
        client.chat.completions.create(model=m, messages=USER).choices[0].message.content
        for m in (MODEL, "gpt-4o-mini", MODEL, MODEL)
    ]
    assert answers == ["one", "mini", "two", "echo: hello there"]


def test_star_queue_serves_any_model_without_its_own_script(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue("*", Text("wildcard"))
    completion = client.chat.completions.create(model="some-model", messages=USER)
    assert completion.choices[0].message.content == "wildcard"


def test_directive_becomes_a_tool_call_and_its_result_is_summarised(client: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": 'check [[tool:get_weather {"city": "Paris"}]] please'}
    ]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    calls = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert calls is not None and len(calls) == 1
    call = calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"})
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "tool get_weather returned: sunny, 21C"


def test_tool_result_preview_is_cut_at_200_characters(client: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "x" * 500},
    ]
    completion = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert completion.choices[0].message.content == "tool get_time returned: " + "x" * 200


def test_directive_for_a_tool_not_offered_is_echoed(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "[[tool:rm_rf {}]]"}]
    completion = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].message.content == "echo: [[tool:rm_rf {}]]"


def test_scripted_parallel_tool_calls(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(
        MODEL, ToolCalls([Call("get_weather", {"city": "Oslo"}), Call("get_time", "{}", id="c_2")])
    )
    completion = client.chat.completions.create(model=MODEL, messages=USER, tools=TOOLS)
    calls = function_calls(completion)
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert calls[1].id == "c_2"
    assert calls[0].id.startswith("call_")


def test_parallel_tool_calls_false_returns_one_call(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, ToolCalls([Call("get_weather"), Call("get_time")]))
    completion = client.chat.completions.create(
        model=MODEL,
        messages=USER,
        tools=TOOLS,
        parallel_tool_calls=False,
    )
    assert len(completion.choices[0].message.tool_calls or []) == 1


def test_tool_choice_none_never_returns_tool_calls(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, ToolCalls([Call("get_weather")]))
    completion = client.chat.completions.create(
        model=MODEL,
        messages=USER,
        tools=TOOLS,
        tool_choice="none",
    )
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == "echo: hello there"


def test_tool_choice_required_forces_a_call_of_the_first_tool(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=USER,
        tools=TOOLS,
        tool_choice="required",
    )
    calls = function_calls(completion)
    assert [(c.function.name, c.function.arguments) for c in calls] == [("get_weather", "{}")]


def test_named_tool_choice_forces_that_tool(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("I would rather talk"))
    completion = client.chat.completions.create(
        model=MODEL,
        messages=USER,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    calls = function_calls(completion)
    assert [c.function.name for c in calls] == ["get_time"]


def test_tool_choice_without_tools_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=MODEL, messages=USER, tool_choice="required")
    assert raised.value.param == "tool_choice"


def test_json_object_default_answer_is_valid_json(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "answer in JSON"}]
    completion = client.chat.completions.create(
        model=MODEL, messages=messages, response_format={"type": "json_object"}
    )
    assert json.loads(completion.choices[0].message.content or "") == {
        "answer": "echo: answer in JSON"
    }


def test_json_object_without_the_word_json_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="must contain the word 'json'"):
        client.chat.completions.create(
            model=MODEL, messages=USER, response_format={"type": "json_object"}
        )


def test_allowed_tools_choice_limits_and_forces_the_tools(client: openai.OpenAI) -> None:
    choice: Any = {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "required",
            "tools": [{"type": "function", "function": {"name": "get_time"}}],
        },
    }
    completion = client.chat.completions.create(
        model=MODEL, messages=USER, tools=TOOLS, tool_choice=choice
    )
    assert [c.function.name for c in function_calls(completion)] == ["get_time"]


def test_tool_name_outside_openais_pattern_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=MODEL, messages=USER, tools=[tool("files.read")])
    assert raised.value.param == "tools[0].function.name"


def test_more_than_128_tools_are_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="array too long"):
        client.chat.completions.create(
            model=MODEL, messages=USER, tools=[tool(f"t{i}") for i in range(129)]
        )


def test_message_without_content_is_refused(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": None}]
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=MODEL, messages=messages)
    assert raised.value.param == "messages.[0].content"


class Weather(BaseModel):
    city: str
    temperature: float
    rainy: bool
    tags: list[str]


def test_json_schema_answer_parses_into_the_requested_model(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model=MODEL,
        messages=USER,
        response_format=Weather,
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Weather)
    assert parsed.tags == []


def test_json_schema_instance_honours_refs_enums_and_minimums(client: openai.OpenAI) -> None:
    schema: Any = {
        "type": "object",
        "$defs": {"Level": {"type": "string", "enum": ["low", "high"]}},
        "properties": {
            "level": {"$ref": "#/$defs/Level"},
            "count": {"type": "integer", "minimum": 3},
            "items": {"type": "array", "items": {"type": "string", "minLength": 2}, "minItems": 1},
            "note": {"type": ["null", "string"]},
            "when": {"type": "string", "format": "date-time"},
            "unused": {"type": "string"},
        },
        "required": ["level", "count", "items", "note", "when"],
    }
    completion = client.chat.completions.create(
        model=MODEL,
        messages=USER,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    )
    assert json.loads(completion.choices[0].message.content or "") == {
        "level": "low",
        "count": 3,
        "items": ["xx"],
        "note": "",
        "when": "1970-01-01T00:00:00Z",
    }


def test_max_tokens_cuts_the_answer_with_finish_reason_length(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("one two three four five"))
    completion = client.chat.completions.create(
        model=MODEL,
        messages=USER,
        max_completion_tokens=2,
    )
    assert completion.choices[0].message.content == "one two"
    assert completion.choices[0].finish_reason == "length"


def test_stop_sequence_cuts_the_answer(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("first line\nEND\nmore"))
    completion = client.chat.completions.create(model=MODEL, messages=USER, stop=["END", "zzz"])
    assert completion.choices[0].message.content == "first line\n"
    assert completion.choices[0].finish_reason == "stop"


def test_stream_deltas_join_into_the_answer(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "echo: hello there"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_stream_uses_the_scripted_number_of_deltas(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("abcdefghij", chunks=4))
    stream = client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    pieces = [c.choices[0].delta.content for c in stream if c.choices[0].delta.content]
    assert len(pieces) == 4
    assert "".join(pieces) == "abcdefghij"


def test_stream_is_server_sent_events_ending_with_done(fake_provider: FakeProviderServer) -> None:
    response = httpx.post(
        fake_provider.openai_base_url + "/chat/completions",
        headers={"Authorization": "Bearer sk-test"},
        json={"model": MODEL, "messages": USER, "stream": True},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line for line in response.text.split("\n\n") if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"


def test_stream_sends_a_usage_chunk_when_asked(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_helper_accumulates_tool_call_arguments(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    arguments = {"city": "Lyon", "days": [1, 2, 3], "detail": "full forecast"}
    fake_provider.provider.queue(
        MODEL, ToolCalls([Call("get_weather", arguments), Call("get_time", {"tz": "UTC"})])
    )
    with client.chat.completions.stream(
        model=MODEL,
        messages=USER,
        tools=[tool("get_weather", strict=True), tool("get_time", strict=True)],
    ) as stream:
        deltas = [e for e in stream if e.type == "tool_calls.function.arguments.delta"]
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [c.function.parsed_arguments for c in calls] == [arguments, {"tz": "UTC"}]
    assert len(deltas) > 2
    assert final.choices[0].finish_reason == "tool_calls"


def test_stream_text_with_the_helper(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("streamed words arrive in order"))
    with client.chat.completions.stream(model=MODEL, messages=USER) as stream:
        pieces = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(pieces) == final.choices[0].message.content == "streamed words arrive in order"


def test_stream_error_breaks_the_stream_after_the_content(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("partial answer", stream_error=server_error()))
    stream = client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="server had an error") as raised:
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "partial answer"
    assert isinstance(raised.value.body, dict) and raised.value.body["type"] == "server_error"


def test_stream_error_is_the_response_of_a_non_streamed_request(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("partial", stream_error=server_error()))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=USER)


def test_async_client_streams(fake_provider: FakeProviderServer) -> None:
    async def run() -> str:
        async with openai.AsyncOpenAI(
            base_url=fake_provider.openai_base_url, api_key="sk-test", max_retries=0
        ) as client:
            stream = await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream])

    assert asyncio.run(run()) == "echo: hello there"


def test_orphan_tool_message_is_refused(client: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "nope", "content": "x"},
    ]
    with pytest.raises(openai.BadRequestError, match="must be a response to a preceeding"):
        client.chat.completions.create(model=MODEL, messages=messages)


def test_unanswered_tool_calls_are_refused(client: openai.OpenAI) -> None:
    call = {"id": "c9", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    messages: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "user", "content": "well?"},
    ]
    with pytest.raises(openai.BadRequestError, match="c9"):
        client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)


def test_empty_messages_are_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=MODEL, messages=[])
    assert raised.value.param == "messages"


@pytest.mark.parametrize(
    ("reply", "exception", "code"),
    [
        (invalid_key(), openai.AuthenticationError, "invalid_api_key"),
        (rate_limited(), openai.RateLimitError, "rate_limit_exceeded"),
        (server_error(), openai.InternalServerError, None),
        (context_length_exceeded(), openai.BadRequestError, "context_length_exceeded"),
        (Error(403, "region not supported"), openai.PermissionDeniedError, None),
        (Error(404, "no such model"), openai.NotFoundError, "model_not_found"),
    ],
)
def test_scripted_errors_map_to_sdk_exceptions(
    client: openai.OpenAI,
    fake_provider: FakeProviderServer,
    reply: Error,
    exception: type[openai.APIStatusError],
    code: str | None,
) -> None:
    fake_provider.provider.queue(MODEL, reply)
    with pytest.raises(exception) as raised:
        client.chat.completions.create(model=MODEL, messages=USER)
    assert raised.value.status_code == reply.status
    assert raised.value.code == code
    assert raised.value.message.endswith(reply.message)


def test_prompt_over_the_context_window_is_refused_without_using_the_script(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.context_windows["small-model"] = 5
    fake_provider.provider.queue("small-model", Text("kept"))
    long: list[Any] = [{"role": "user", "content": "one two three four five six seven"}]
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="small-model", messages=long)
    assert raised.value.code == "context_length_exceeded"
    assert "maximum context length is 5 tokens" in raised.value.message
    short = client.chat.completions.create(model="small-model", messages=[USER[0]])
    assert short.choices[0].message.content == "kept"


def test_rate_limit_carries_retry_after(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, rate_limited(retry_after=7))
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model=MODEL, messages=USER)
    assert raised.value.response.headers["retry-after"] == "7"


def test_key_containing_invalid_is_refused(fake_provider: FakeProviderServer) -> None:
    with (
        openai.OpenAI(
            base_url=fake_provider.openai_base_url, api_key="sk-invalid", max_retries=0
        ) as c,
        pytest.raises(openai.AuthenticationError) as raised,
    ):
        c.chat.completions.create(model=MODEL, messages=USER)
    assert raised.value.body == {
        "message": "Incorrect API key provided: sk-...alid.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


def test_accepted_keys_restricts_the_keys(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.accepted_keys = {"sk-the-one"}
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=MODEL, messages=USER)
    with openai.OpenAI(
        base_url=fake_provider.openai_base_url, api_key="sk-the-one", max_retries=0
    ) as allowed:
        assert allowed.chat.completions.create(model=MODEL, messages=USER).choices


def test_missing_key_is_refused(fake_provider: FakeProviderServer) -> None:
    response = httpx.post(
        fake_provider.openai_base_url + "/chat/completions", json={"model": MODEL, "messages": USER}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] is None


def test_retry_after_is_honoured_by_the_sdk(fake_provider: FakeProviderServer) -> None:
    fake_provider.provider.queue(MODEL, rate_limited(retry_after=1), Text("after the wait"))
    with openai.OpenAI(
        base_url=fake_provider.openai_base_url, api_key="sk-test", max_retries=1
    ) as client:
        completion = client.chat.completions.create(model=MODEL, messages=USER)
    assert completion.choices[0].message.content == "after the wait"
    sent = fake_provider.provider.requests
    assert len(sent) == 2
    assert sent[1].headers["x-stainless-retry-count"] == "1"


def test_delay_longer_than_the_client_timeout_times_out(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(MODEL, Text("late", delay=2))
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model=MODEL, messages=USER, timeout=0.2)


def test_chunk_delay_longer_than_the_read_timeout_breaks_the_stream(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    # the first chunk comes at once (2 s is ample even on a loaded machine), the next after 20 s
    fake_provider.provider.queue(MODEL, Text("slow words here", chunk_delay=20))
    stream = client.chat.completions.create(model=MODEL, messages=USER, stream=True, timeout=2)
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    with pytest.raises(Exception, match=r"(?i)timed? ?out") as raised:
        list(stream)
    assert "Timeout" in type(raised.value).__name__
    stream.close()


def test_requests_are_recorded(client: openai.OpenAI, fake_provider: FakeProviderServer) -> None:
    client.chat.completions.create(
        model=MODEL, messages=USER, temperature=0.5, extra_query={"a": "b"}
    )
    (sent,) = fake_provider.provider.requests
    assert (sent.method, sent.path, sent.query) == ("POST", "/v1/chat/completions", {"a": "b"})
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.json == {"model": MODEL, "messages": USER, "temperature": 0.5}


def test_invalid_json_body_is_a_400(fake_provider: FakeProviderServer) -> None:
    response = httpx.post(
        fake_provider.openai_base_url + "/chat/completions",
        headers={"Authorization": "Bearer sk-test", "content-type": "application/json"},
        content=b"{not json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_path_is_a_404_in_openai_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.completions.create(model=MODEL, prompt="legacy")
    assert raised.value.code == "unknown_url"


def test_models_list_in_openai_shape(client: openai.OpenAI) -> None:
    models = list(client.models.list())
    assert "gpt-4o" in [m.id for m in models]
    assert all(m.object == "model" for m in models)
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"


def test_unknown_model_retrieval_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("gpt-nope")
    assert raised.value.code == "model_not_found"
