# mypy: disable-error-code="union-attr,operator"
"""Runs end to end: streaming events, requires_action round trip, cancel, expiry, tool steps."""

from __future__ import annotations

import json

import openai
from openai import AssistantEventHandler
from typing_extensions import override

from tests.agent.conftest import Agent
from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider import Call, Text, ToolCalls
from tests.helpers.wait import wait_until

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.deltas: list[str] = []
        self.events: list[str] = []

    @override
    def on_event(self, event) -> None:  # type: ignore[no-untyped-def]
        self.events.append(event.event)

    @override
    def on_text_delta(self, delta, snapshot) -> None:  # type: ignore[no-untyped-def]
        self.deltas.append(delta.value)


def setup(client: openai.OpenAI, text: str, **assistant: object) -> tuple[str, str]:
    a = client.beta.assistants.create(model="gpt-4o", **assistant)  # type: ignore[arg-type]
    t = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    return a.id, t.id


def test_stream_with_an_assistant_event_handler(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue("*", Text("one two three four", chunks=4))
    assistant_id, thread_id = setup(client, "count")
    handler = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=handler
    ) as stream:
        stream.until_done()
    assert "".join(handler.deltas) == "one two three four" and len(handler.deltas) == 4
    assert handler.events[:3] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
    ]
    assert handler.events[-1] == "thread.run.completed"
    order = [e for e in handler.events if not e.endswith(".delta")]
    assert order[3:] == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ] or order[3:] == [
        "thread.message.created",
        "thread.message.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]


def test_requires_action_then_submit_tool_outputs(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue("*", ToolCalls([Call("get_weather", {"city": "Paris"})]))
    assistant_id, thread_id = setup(client, "weather?", tools=[WEATHER])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=20
    )
    assert run.status == "requires_action" and run.required_action is not None
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Paris"},
    )
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}],
        poll_interval_ms=20,
    )
    assert done.status == "completed"
    answer = client.beta.threads.messages.list(thread_id).data[0].content[0].text.value
    assert answer == "tool get_weather returned: sunny"
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data[0]
    assert step.step_details.tool_calls[0].function.output == "sunny"  # type: ignore[union-attr]


def test_streamed_submit_tool_outputs(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(
        "*", ToolCalls([Call("get_weather", {"city": "Oslo"})]), Text("cold there")
    )
    assistant_id, thread_id = setup(client, "weather?", tools=[WEATHER])
    with client.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "requires_action"
    call_id = run.required_action.submit_tool_outputs.tool_calls[0].id  # type: ignore[union-attr]
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id,
        thread_id=thread_id,
        tool_outputs=[{"tool_call_id": call_id, "output": "-5C"}],
    ) as stream:
        text = "".join(stream.text_deltas)
    assert text == "cold there"


def test_submit_with_a_wrong_call_id_is_400(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue("*", ToolCalls([Call("get_weather", {})]))
    assistant_id, thread_id = setup(client, "weather?", tools=[WEATHER])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=20
    )
    try:
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread_id, tool_outputs=[{"tool_call_id": "call_x", "output": "1"}]
        )
    except openai.BadRequestError as exc:
        assert exc.param == "tool_outputs[0].tool_call_id"
    else:
        raise AssertionError("expected a 400")


def test_cancel_during_a_run(client: openai.OpenAI, fake_provider: FakeProviderServer) -> None:
    fake_provider.provider.queue("*", Text("slow answer", delay=5))
    assistant_id, thread_id = setup(client, "take your time")
    run = client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant_id)
    wait_until(
        lambda: (
            client.beta.threads.runs.retrieve(run.id, thread_id=thread_id).status == "in_progress"
        )
    )
    cancelling = client.beta.threads.runs.cancel(run.id, thread_id=thread_id)
    assert cancelling.status in ("cancelling", "cancelled")
    final = wait_until(
        lambda: (
            (r := client.beta.threads.runs.retrieve(run.id, thread_id=thread_id)).status
            == "cancelled"
            and r
        )
    )
    assert final.cancelled_at is not None


def test_requires_action_expires(
    agent: Agent, client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue("*", ToolCalls([Call("get_weather", {})]))
    assistant_id, thread_id = setup(client, "weather?", tools=[WEATHER])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=20
    )
    assert run.expires_at is not None
    agent.clock.offset = 601
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread_id).status == "expired"


def test_builtin_tool_runs_as_a_step(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue("*", ToolCalls([Call("shell", {"command": "echo hi-from-shell"})]))
    assistant_id, thread_id = setup(client, "run it")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=20
    )
    assert run.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    output = steps[0].step_details.tool_calls[0].function.output  # type: ignore[union-attr]
    assert "exit code 0" in output and "hi-from-shell" in output


def test_code_interpreter_step_has_logs(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue("*", ToolCalls([Call("code_interpreter", {"code": "print(6*7)"})]))
    assistant_id, thread_id = setup(client, "compute", tools=[{"type": "code_interpreter"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=20
    )
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data[0]
    call = step.step_details.tool_calls[0]  # type: ignore[union-attr]
    assert call.type == "code_interpreter"
    assert call.code_interpreter.outputs[0].logs.strip() == "42"  # type: ignore[union-attr]


def test_adding_a_message_during_an_active_run_is_400(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue("*", ToolCalls([Call("get_weather", {})]))
    assistant_id, thread_id = setup(client, "weather?", tools=[WEATHER])
    client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=20
    )
    try:
        client.beta.threads.messages.create(thread_id, role="user", content="more")
    except openai.BadRequestError:
        return
    raise AssertionError("expected a 400")


class ToolWatcher(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.created: list[str] = []
        self.done: list[str] = []

    @override
    def on_tool_call_created(self, tool_call) -> None:  # type: ignore[no-untyped-def]
        self.created.append(tool_call.type)

    @override
    def on_tool_call_done(self, tool_call) -> None:  # type: ignore[no-untyped-def]
        self.done.append(tool_call.function.output)


def test_streamed_builtin_tool_calls_reach_the_handler(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue("*", ToolCalls([Call("shell", {"command": "echo streamed"})]))
    assistant_id, thread_id = setup(client, "go")
    handler = ToolWatcher()
    with client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=handler
    ) as stream:
        stream.until_done()
    assert handler.created == ["function"]
    assert "streamed" in handler.done[0]


def test_streamed_create_and_run_announces_the_thread(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    handler = Recorder()
    with client.beta.threads.create_and_run_stream(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "streamed"}]},
        event_handler=handler,
    ) as stream:
        stream.until_done()
    assert handler.events[0] == "thread.created"
    assert "".join(handler.deltas) == "echo: streamed"


def test_code_interpreter_reads_the_assistants_files(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    uploaded = client.files.create(file=("numbers.csv", b"a,b\n1,2\n3,4\n"), purpose="assistants")
    code = "import csv; print(sum(int(r['b']) for r in csv.DictReader(open('numbers.csv'))))"
    fake_provider.provider.queue("*", ToolCalls([Call("code_interpreter", {"code": code})]))
    assistant_id, thread_id = setup(
        client,
        "sum column b",
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [uploaded.id]}},
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=20
    )
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data[0]
    call = step.step_details.tool_calls[0]  # type: ignore[union-attr]
    assert call.code_interpreter.outputs[0].logs.strip() == "6"  # type: ignore[union-attr]


def test_file_search_honours_the_runs_options_and_cites(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    files = [
        client.files.create(
            file=(f"doc{i}.txt", f"zebra fact number {i}".encode()), purpose="assistants"
        )
        for i in range(3)
    ]
    store = client.vector_stores.create(file_ids=[f.id for f in files])
    wait_until(lambda: client.vector_stores.retrieve(store.id).file_counts.completed == 3)
    fake_provider.provider.queue("*", ToolCalls([Call("file_search", {"query": "zebra fact"})]))
    assistant_id, thread_id = setup(
        client,
        "zebras?",
        tools=[{"type": "file_search", "file_search": {"max_num_results": 1}}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=20
    )
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data[0]
    call = step.step_details.tool_calls[0]  # type: ignore[union-attr]
    assert call.type == "file_search" and len(call.file_search.results) == 1  # type: ignore[union-attr,arg-type]
    answer = client.beta.threads.messages.list(thread_id).data[0].content[0].text
    cited = [a.file_citation.file_id for a in answer.annotations]  # type: ignore[union-attr]
    assert cited and len(set(cited)) == 1 and cited[0] in {f.id for f in files}
