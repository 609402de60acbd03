# mypy: disable-error-code="union-attr,operator"
"""Run options reach the provider and shape the run: tool_choice, sampling, token limits,
truncation, JSON mode, memory hooks, citations, provider errors."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from bureau_agent.tools.base import Citation, Tool, ToolContext, ToolResult
from tests.agent.conftest import Agent
from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider import Call, Error, Text, ToolCalls, server_error
from tests.helpers.wait import wait_until

FN: Any = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def chat_requests(fake: FakeProviderServer) -> list[dict[str, Any]]:
    return [r.json for r in fake.provider.requests if r.path.endswith("/chat/completions")]


def run(
    client: openai.OpenAI, text: str = "hi", messages: list[Any] | None = None, **options: Any
) -> Any:
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[FN])
    thread = client.beta.threads.create(messages=messages or [{"role": "user", "content": text}])
    return client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20, **options
    )


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("none", "none"),
        ("required", "required"),
        (
            {"type": "function", "function": {"name": "lookup"}},
            {"type": "function", "function": {"name": "lookup"}},
        ),
    ],
)
def test_tool_choice_reaches_the_provider(
    client: openai.OpenAI, fake_provider: FakeProviderServer, choice: Any, sent: Any
) -> None:
    fake_provider.provider.queue("*", Text("ok"))
    result = run(client, tool_choice=choice)
    assert result.status == ("requires_action" if isinstance(choice, dict) else "completed")
    assert chat_requests(fake_provider)[0]["tool_choice"] == sent


def test_unknown_named_function_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        run(client, tool_choice={"type": "function", "function": {"name": "nope"}})
    assert info.value.param == "tool_choice.function.name"


def test_sampling_and_completion_limit_reach_the_provider(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    run(client, temperature=0.2, top_p=0.5, max_completion_tokens=300)
    sent = chat_requests(fake_provider)[0]
    assert (sent["temperature"], sent["top_p"], sent["max_completion_tokens"]) == (0.2, 0.5, 300)


def test_completion_limit_hit_ends_incomplete(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue("*", Text("word " * 400))
    result = run(client, max_completion_tokens=256)
    assert result.status == "incomplete"
    assert result.incomplete_details.reason == "max_completion_tokens"
    message = client.beta.threads.messages.list(result.thread_id).data[0]
    assert message.status == "incomplete"


def test_prompt_limit_drops_old_messages(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    history = [{"role": "user", "content": ("old words " * 150) + str(i)} for i in range(4)]
    history.append({"role": "user", "content": "latest"})
    result = run(client, messages=history, max_prompt_tokens=400)
    assert result.status == "completed"
    sent = chat_requests(fake_provider)[0]["messages"]
    assert sent[-1]["content"] == "latest" and len(sent) < 6


def test_prompt_limit_too_small_for_the_last_message_is_incomplete(client: openai.OpenAI) -> None:
    result = run(client, text="big " * 600, max_prompt_tokens=256)
    assert result.status == "incomplete"
    assert result.incomplete_details.reason == "max_prompt_tokens"


def test_truncation_last_messages(client: openai.OpenAI, fake_provider: FakeProviderServer) -> None:
    history = [{"role": "user", "content": f"m{i}"} for i in range(5)]
    run(client, messages=history, truncation_strategy={"type": "last_messages", "last_messages": 2})
    sent = [m for m in chat_requests(fake_provider)[0]["messages"] if m["role"] == "user"]
    assert [m["content"] for m in sent] == ["m3", "m4"]


def test_json_object_answer(client: openai.OpenAI, fake_provider: FakeProviderServer) -> None:
    fake_provider.provider.queue("*", Text('{"ok": true}'))
    result = run(client, response_format={"type": "json_object"})
    assert result.status == "completed"
    assert chat_requests(fake_provider)[0]["response_format"] == {"type": "json_object"}


def test_usage_is_the_sum_of_the_model_calls(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue("*", ToolCalls([Call("list_files", {})]), Text("done"))
    result = run(client)
    steps = client.beta.threads.runs.steps.list(result.id, thread_id=result.thread_id).data
    assert result.usage.total_tokens == sum(s.usage.total_tokens for s in steps if s.usage)
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens


def test_model_not_found_fails_clearly(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(
        "*", Error(404, "The model `gpt-9` does not exist", code="model_not_found")
    )
    result = run(client)
    assert (result.status, result.last_error.code) == ("failed", "model_not_found")


def test_quota_exhausted_fails_without_retrying(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(
        "*", Error(429, "You exceeded your current quota", code="insufficient_quota")
    )
    result = run(client)
    assert (result.status, result.last_error.code) == ("failed", "insufficient_quota")
    assert len(chat_requests(fake_provider)) == 1


def test_a_stream_broken_midway_fails_the_run(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue("*", Text("partial answer", stream_error=server_error()))
    result = run(client)
    assert result.status == "failed"
    message = client.beta.threads.messages.list(result.thread_id).data[0]
    assert message.role == "assistant" and message.status == "incomplete"


class Memory:
    def __init__(self) -> None:
        self.after: list[tuple[str, str, str]] = []

    async def before_run(self, thread_id: str, user_text: str) -> list[str]:
        return ["the user's cat is called Tom"]

    async def after_run(self, thread_id: str, user_text: str, answer_text: str) -> None:
        self.after.append((thread_id, user_text, answer_text))


def test_memory_hooks_surround_the_run(
    agent: Agent, client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    memory = Memory()
    agent.services.hooks.append(memory)
    result = run(client, text="cat name?")
    system = chat_requests(fake_provider)[0]["messages"][0]
    assert system["role"] == "system" and "the user's cat is called Tom" in system["content"]
    wait_until(lambda: memory.after, message="after_run called")
    assert memory.after == [(result.thread_id, "cat name?", "echo: cat name?")]


def test_tool_citations_become_file_citation_annotations(
    agent: Agent, client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    marker = "【0:0†notes.txt】"

    async def cite(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return ToolResult(f"{marker} the answer is 42", citations=[Citation(marker, "file-abc")])

    agent.services.tools.register(Tool("cite_probe", "test tool", {"type": "object"}, cite))
    fake_provider.provider.queue(
        "*", ToolCalls([Call("cite_probe", {})]), Text(f"It is 42 {marker}.")
    )
    result = run(client)
    text = client.beta.threads.messages.list(result.thread_id).data[0].content[0].text
    annotation = text.annotations[0]
    assert annotation.type == "file_citation" and annotation.file_citation.file_id == "file-abc"
    assert text.value[annotation.start_index : annotation.end_index] == marker
