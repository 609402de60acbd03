# mypy: disable-error-code="union-attr,operator,index,arg-type"
"""The Assistants API surface with the official openai SDK (OpenAI and AzureOpenAI clients)."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.agent.conftest import TOKEN, Agent


def test_assistant_create_retrieve_modify_delete(client: openai.OpenAI) -> None:
    created = client.beta.assistants.create(
        model="gpt-4o",
        name="helper",
        description="d",
        instructions="be brief",
        tools=[{"type": "code_interpreter"}, {"type": "function", "function": {"name": "f"}}],
        metadata={"k": "v"},
        temperature=0.5,
    )
    assert created.id.startswith("asst_") and created.object == "assistant"
    assert client.beta.assistants.retrieve(created.id).name == "helper"
    modified = client.beta.assistants.update(created.id, name="renamed", metadata={"a": "b"})
    assert (modified.name, modified.metadata, modified.instructions) == (
        "renamed",
        {"a": "b"},
        "be brief",
    )
    deleted = client.beta.assistants.delete(created.id)
    assert deleted.deleted and deleted.object == "assistant.deleted"


def test_unknown_assistant_is_404_in_openai_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.beta.assistants.retrieve("asst_missing")
    assert info.value.body == {
        "message": "No assistant found with id 'asst_missing'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_missing_model_is_400_naming_the_param(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.beta.assistants.create(model="")
    assert info.value.param == "model"


def test_wrong_type_is_400_not_422(agent: Agent) -> None:
    response = httpx.post(
        agent.url + "/v1/assistants",
        json={"model": "m", "temperature": "hot"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "temperature"


def test_requests_without_the_token_are_401(agent: Agent) -> None:
    with openai.OpenAI(base_url=agent.url + "/v1", api_key="wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            bad.beta.assistants.list()


def test_thread_with_messages_modify_and_delete(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}],
        metadata={"x": "1"},
    )
    assert client.beta.threads.retrieve(thread.id).metadata == {"x": "1"}
    listed = client.beta.threads.messages.list(thread.id, order="asc")
    assert [m.content[0].text.value for m in listed] == ["one", "two"]
    assert client.beta.threads.update(thread.id, metadata={"y": "2"}).metadata == {"y": "2"}
    assert client.beta.threads.delete(thread.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)


def test_message_create_retrieve_modify_delete(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(
        thread.id, role="user", content=[{"type": "text", "text": "hi"}]
    )
    assert message.status == "completed" and message.thread_id == thread.id
    got = client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert got.content[0].text.value == "hi"
    updated = client.beta.threads.messages.update(
        message.id, thread_id=thread.id, metadata={"m": "1"}
    )
    assert updated.metadata == {"m": "1"}
    assert client.beta.threads.messages.delete(message.id, thread_id=thread.id).deleted


def test_messages_filter_by_run_id(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "ping"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    mine = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert [m.role for m in mine] == ["assistant"]
    assert mine[0].content[0].text.value == "echo: ping"


def test_azure_client_works_under_the_openai_prefix(agent: Agent) -> None:
    azure = openai.AzureOpenAI(
        azure_endpoint=agent.url, api_key=TOKEN, api_version="2024-05-01-preview", max_retries=0
    )
    created = azure.beta.assistants.create(model="gpt-4o", name="azure")
    assert azure.beta.assistants.retrieve(created.id).name == "azure"
    assert created.id in [a.id for a in azure.beta.assistants.list()]


def test_run_create_list_retrieve_modify_and_steps(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    assert run.status == "completed" and run.usage is not None and run.usage.total_tokens > 0
    assert run.expires_at is None and run.completed_at is not None
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [run.id]
    modified = client.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"t": "1"})
    assert modified.metadata == {"t": "1"}
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.type for s in steps] == ["message_creation"]
    step = client.beta.threads.runs.steps.retrieve(steps[0].id, thread_id=thread.id, run_id=run.id)
    assert step.status == "completed"


def test_create_and_run(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "together"}]},
        poll_interval_ms=20,
    )
    assert run.status == "completed"
    reply = client.beta.threads.messages.list(run.thread_id).data[0]
    assert reply.content[0].text.value == "echo: together"


def test_file_search_attachments_create_the_threads_vector_store(client: openai.OpenAI) -> None:
    uploaded = client.files.create(
        file=("notes.txt", b"the launch code is 1234"), purpose="assistants"
    )
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "what is the code?",
                "attachments": [{"file_id": uploaded.id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    stores = thread.tool_resources.file_search.vector_store_ids
    assert len(stores) == 1
    files = client.vector_stores.files.list(stores[0]).data
    assert [f.id for f in files] == [uploaded.id]


def test_later_file_search_attachments_join_the_same_store(client: openai.OpenAI) -> None:
    first = client.files.create(file=("a.txt", b"alpha"), purpose="assistants")
    second = client.files.create(file=("b.txt", b"beta"), purpose="assistants")
    tools: Any = [{"type": "file_search"}]
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "a", "attachments": [{"file_id": first.id, "tools": tools}]}
        ]
    )
    client.beta.threads.messages.create(
        thread.id, role="user", content="b", attachments=[{"file_id": second.id, "tools": tools}]
    )
    store = client.beta.threads.retrieve(thread.id).tool_resources.file_search.vector_store_ids[0]
    assert {f.id for f in client.vector_stores.files.list(store)} == {first.id, second.id}
