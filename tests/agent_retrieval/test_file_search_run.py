"""file_search inside a run: the tool's results in the run step, citations in the answer."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest
from openai.types.beta.threads.runs import FileSearchToolCall

from tests.agent_retrieval.conftest import CHAT_MODEL, Agent, upload
from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider_replies import Call, Text, ToolCalls

# The openai SDK marks the Assistants API deprecated; these tests exercise it on purpose.
pytestmark = [
    pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The Assistants API is deprecated:DeprecationWarning"),
]

CONTENT: Final = "step_details.tool_calls[*].file_search.results[*].content"
POLICY = "Refund policy: customers in the EU may ask for a refund within 30 days of delivery."


def _run_with_file_search(
    agent: Agent, fake: FakeProviderServer, tmp_path: Path
) -> tuple[str, str]:
    file_id = upload(agent, tmp_path, "refunds.md", POLICY)
    assistant = agent.client.beta.assistants.create(
        model=CHAT_MODEL,
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [file_id]}]}},
    )
    store_ids = assistant.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
    assert store_ids is not None and len(store_ids) == 1
    agent.wait_store(store_ids[0])
    fake.provider.queue(
        CHAT_MODEL,
        ToolCalls([Call("file_search", {"query": "refund window EU"})]),
        Text("EU customers have 30 days to ask for a refund【0:0†refunds.md】."),
    )
    thread = agent.client.beta.threads.create(
        messages=[{"role": "user", "content": "How long do EU customers have for refunds?"}]
    )
    run = agent.client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "completed", run.last_error
    return thread.id, run.id


def test_answer_carries_a_file_citation(
    agent: Agent, fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    thread_id, _ = _run_with_file_search(agent, fake_provider, tmp_path)
    message = agent.client.beta.threads.messages.list(thread_id).data[0]
    text = message.content[0].text  # type: ignore[union-attr]
    [annotation] = text.annotations
    assert annotation.type == "file_citation"
    assert text.value[annotation.start_index : annotation.end_index] == "【0:0†refunds.md】"
    cited = agent.client.files.retrieve(annotation.file_citation.file_id)  # type: ignore[union-attr]
    assert cited.filename == "refunds.md"


def test_run_step_holds_results_and_content_only_when_included(
    agent: Agent, fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    thread_id, run_id = _run_with_file_search(agent, fake_provider, tmp_path)
    steps = agent.client.beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc")
    call = steps.data[0].step_details.tool_calls[0]  # type: ignore[union-attr]
    assert isinstance(call, FileSearchToolCall)
    [result] = call.file_search.results or []
    assert result.file_name == "refunds.md" and 0 < result.score <= 1
    assert not result.content
    included = agent.client.beta.threads.runs.steps.list(
        run_id, thread_id=thread_id, order="asc", include=[CONTENT]
    )
    call = included.data[0].step_details.tool_calls[0]  # type: ignore[union-attr]
    assert isinstance(call, FileSearchToolCall)
    [result] = call.file_search.results or []
    assert [c.text for c in result.content or []] == [POLICY]


def test_the_model_sees_the_passage_and_its_marker(
    agent: Agent, fake_provider: FakeProviderServer, tmp_path: Path
) -> None:
    _run_with_file_search(agent, fake_provider, tmp_path)
    chats = [r for r in fake_provider.provider.requests if r.path.endswith("/chat/completions")]
    tool_messages = [m for m in chats[-1].json["messages"] if m["role"] == "tool"]
    assert "【0:0†refunds.md】" in tool_messages[0]["content"]
    assert "30 days of delivery" in tool_messages[0]["content"]
