# mypy: disable-error-code="union-attr,operator"
"""The tool loop against the fake provider, for OpenAI- and Anthropic-shaped providers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import openai
import pytest

from bureau_agent.providers.base import (
    Completed,
    ModelRequest,
    ModelResponse,
    StreamEvent,
    ToolCall,
    Usage,
)
from tests.agent.conftest import Agent
from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider import (
    Call,
    Error,
    Reply,
    Text,
    ToolCalls,
    context_length_exceeded,
    prompt_too_long,
    rate_limited,
    server_error,
)
from tests.helpers.wait import wait_until

FLAVOURS = ["openai", "anthropic"]


def provider_env(fake: FakeProviderServer, flavour: str, **extra: Any) -> dict[str, Any]:
    if flavour == "anthropic":
        env = {
            "ASSISTANT_PROVIDER": "anthropic",
            "ASSISTANT_CHAT_COMPLETION_ENDPOINT": fake.anthropic_base_url + "/v1/messages",
            "ASSISTANT_MODEL": "claude-x",
        }
    else:
        env = {}
    env.update(extra)
    return env


def too_long(flavour: str) -> Reply:
    return prompt_too_long() if flavour == "anthropic" else context_length_exceeded()


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run_once(agent: Agent, text: str, **run: Any) -> tuple[openai.OpenAI, Any]:
    client = agent.client()
    assistant = client.beta.assistants.create(model=agent.config.assistant_model or "m")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    result = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20, **run
    )
    return client, result


def model_requests(fake: FakeProviderServer) -> list[Any]:
    return [
        r for r in fake.provider.requests if r.path.endswith(("/chat/completions", "/messages"))
    ]


def test_tool_cap_then_final_answer(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer, flavour: str
) -> None:
    agent = start_agent(
        fake_provider, **provider_env(fake_provider, flavour, ASSISTANT_MAX_TOOL_CALLS=2)
    )
    shell = Call("shell", {"command": "echo x"})
    fake_provider.provider.queue("*", ToolCalls([shell]), ToolCalls([shell]), Text("final"))
    client, run = run_once(agent, "loop")
    assert run.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "tool_calls", "message_creation"]
    last = model_requests(fake_provider)[-1].json
    assert last.get("tool_choice") in ("none", {"type": "none"}) or "tools" not in last


class InsistentModel:
    """A model that asks for a tool on every call, even when told not to (the fake refuses to)."""

    def __init__(self) -> None:
        self.calls = 0

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        self.calls += 1
        call = ToolCall(id=f"call_{self.calls}", name="shell", arguments='{"command": "true"}')
        yield Completed(ModelResponse("", [call], Usage(1, 1), "tool_calls"))

    async def aclose(self) -> None:
        return None


def test_tool_cap_ends_incomplete_when_the_model_insists(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer
) -> None:
    model = InsistentModel()
    agent = start_agent(fake_provider, model_factory=lambda _: model, ASSISTANT_MAX_TOOL_CALLS=1)
    _, run = run_once(agent, "loop")
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_tool_calls"
    assert model.calls == 2


def test_longer_context_model_fallback(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer, flavour: str
) -> None:
    env = provider_env(fake_provider, flavour, ASSISTANT_LONGER_CONTEXT_MODEL="big-model")
    agent = start_agent(fake_provider, **env)
    fake_provider.provider.queue(agent.config.assistant_model or "", too_long(flavour))
    _, run = run_once(agent, "long")
    assert run.status == "completed"
    assert model_requests(fake_provider)[-1].json["model"] == "big-model"


def test_truncation_when_no_longer_model(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer, flavour: str
) -> None:
    agent = start_agent(fake_provider, **provider_env(fake_provider, flavour))
    client = agent.client()
    assistant = client.beta.assistants.create(model="m")
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(9)
    ]
    thread = client.beta.threads.create(messages=history)  # type: ignore[arg-type]
    fake_provider.provider.queue("*", too_long(flavour))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    assert run.status == "completed"
    first, second = model_requests(fake_provider)[-2:]
    assert len(second.json["messages"]) < len(first.json["messages"])


def test_context_failure_is_clear(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer, flavour: str
) -> None:
    agent = start_agent(fake_provider, **provider_env(fake_provider, flavour))
    fake_provider.provider.queue("*", too_long(flavour), too_long(flavour))
    _, run = run_once(agent, "x")
    assert run.status == "failed"
    assert run.last_error.code == "context_length_exceeded"
    assert "context window" in run.last_error.message


def test_retries_after_429(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer, flavour: str
) -> None:
    agent = start_agent(fake_provider, **provider_env(fake_provider, flavour))
    fake_provider.provider.queue("*", rate_limited(0.05), rate_limited(0.05), Text("after retries"))
    client, run = run_once(agent, "x")
    assert run.status == "completed"
    assert len(model_requests(fake_provider)) == 3
    assert (
        client.beta.threads.messages.list(run.thread_id).data[0].content[0].text.value
        == "after retries"
    )


def test_invalid_key_fails_the_run_clearly(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer, flavour: str
) -> None:
    agent = start_agent(
        fake_provider, **provider_env(fake_provider, flavour, ASSISTANT_API_KEY="sk-invalid-key")
    )
    _, run = run_once(agent, "x")
    assert run.status == "failed"
    assert run.last_error.code == "invalid_api_key"
    assert "rejected the API key" in run.last_error.message
    assert "sk-invalid-key" not in run.last_error.message


def test_parallel_tool_calls_in_one_step(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer, flavour: str
) -> None:
    agent = start_agent(fake_provider, **provider_env(fake_provider, flavour))
    calls = [Call("shell", {"command": "echo first"}), Call("shell", {"command": "echo second"})]
    fake_provider.provider.queue("*", ToolCalls(calls), Text("both done"))
    client, run = run_once(agent, "x")
    assert run.status == "completed"
    step = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data[0]
    outputs = [c.function.output for c in step.step_details.tool_calls]  # type: ignore[union-attr]
    assert "first" in outputs[0] and "second" in outputs[1]


SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "required": ["n"],
            "additionalProperties": False,
        },
    },
}


def test_strict_json_schema_answer_validates(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer, flavour: str
) -> None:
    agent = start_agent(fake_provider, **provider_env(fake_provider, flavour))
    fake_provider.provider.queue("*", Text("not json"), Text('{"n": 3}'))
    client, run = run_once(agent, "x", response_format=SCHEMA)
    assert run.status == "completed"
    assert (
        client.beta.threads.messages.list(run.thread_id).data[0].content[0].text.value == '{"n": 3}'
    )


def test_strict_json_schema_fails_after_a_second_bad_answer(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer, flavour: str
) -> None:
    agent = start_agent(fake_provider, **provider_env(fake_provider, flavour))
    fake_provider.provider.queue("*", Text('{"n": "three"}'), Text('{"m": 1}'))
    _, run = run_once(agent, "x", response_format=SCHEMA)
    assert run.status == "failed"
    assert run.last_error.code == "invalid_response_format"


def test_restart_mid_run_ends_failed(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer
) -> None:
    first = start_agent(fake_provider)
    client = first.client()
    assistant = client.beta.assistants.create(model="m")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    fake_provider.provider.queue("*", Text("never", delay=30))
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    wait_until(
        lambda: (
            client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "in_progress"
        )
    )
    # A second process on the same data dir after the first died mid-run.
    second = start_agent(fake_provider)
    after = second.client().beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert after.status == "failed"
    assert after.last_error.code == "server_error"


def test_shutdown_mid_run_ends_failed(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer
) -> None:
    first = start_agent(fake_provider)
    client = first.client()
    assistant = client.beta.assistants.create(model="m")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    fake_provider.provider.queue("*", Text("never", delay=30))
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    wait_until(
        lambda: (
            client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "in_progress"
        )
    )
    first.stop()
    second = start_agent(fake_provider)
    after = second.client().beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert (after.status, after.last_error.code) == ("failed", "server_error")
    assert "stopped" in after.last_error.message


def test_stream_error_after_output_fails_the_run(
    start_agent: Callable[..., Agent], fake_provider: FakeProviderServer, flavour: str
) -> None:
    agent = start_agent(fake_provider, **provider_env(fake_provider, flavour))
    broken = Error(529, "Overloaded") if flavour == "anthropic" else server_error()
    fake_provider.provider.queue("*", Text("partial words", stream_error=broken))
    client, run = run_once(agent, "x")
    assert (run.status, run.last_error.code) == ("failed", "server_error")
    assert "during the stream" in run.last_error.message
    message = client.beta.threads.messages.list(run.thread_id).data[0]
    assert message.status == "incomplete"
