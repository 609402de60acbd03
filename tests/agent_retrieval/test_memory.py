"""Persistent memory: stored after runs, recalled in other threads (across restarts), owned by
the user through /desk/v1/memory, and off with BUREAU_MEMORY=off."""

from __future__ import annotations

import json

import pytest

from tests.agent_retrieval.conftest import CHAT_MODEL, Agent, AgentFactory
from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider_replies import Call, Text, ToolCalls
from tests.helpers.wait import wait_until

pytestmark = [
    pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The Assistants API is deprecated:DeprecationWarning"),
]


def _ask(agent: Agent, question: str) -> str:
    """Run one question in a new thread; return the thread id."""
    assistant = agent.client.beta.assistants.create(model=CHAT_MODEL)
    thread = agent.client.beta.threads.create(messages=[{"role": "user", "content": question}])
    run = agent.client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "completed", run.last_error
    return thread.id


def _memories(agent: Agent, **params: str) -> list[dict[str, object]]:
    response = agent.desk("GET", "/memory", params=params)
    assert response.status_code == 200, response.text
    data: list[dict[str, object]] = response.json()["data"]
    return data


def _system_prompt(fake: FakeProviderServer) -> str:
    chats = [r for r in fake.provider.requests if r.path.endswith("/chat/completions")]
    return "\n".join(str(m["content"]) for m in chats[-1].json["messages"] if m["role"] == "system")


def test_exchange_is_stored_after_a_completed_run(
    agent: Agent, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(CHAT_MODEL, Text("Noted: you deploy with Nomad."))
    thread_id = _ask(agent, "Remember that our cluster scheduler is Nomad.")
    stored = wait_until(lambda: _memories(agent), timeout=10)
    assert stored[0]["thread_id"] == thread_id and stored[0]["kind"] == "exchange"
    assert "scheduler is Nomad" in str(stored[0]["text"])
    assert "you deploy with Nomad" in str(stored[0]["text"])


def test_memory_is_recalled_in_a_new_thread_after_a_restart(
    start_agent: AgentFactory, fake_provider: FakeProviderServer
) -> None:
    with start_agent() as first:
        fake_provider.provider.queue(CHAT_MODEL, Text("Got it: Helix is your favourite editor."))
        _ask(first, "My favourite editor is Helix, please keep that in mind.")
        wait_until(lambda: _memories(first), timeout=10)
    with start_agent(data_dir=first.data_dir) as second:
        fake_provider.provider.reset()
        _ask(second, "Which editor is my favourite one?")
        prompt = _system_prompt(fake_provider)
    assert "Helix" in prompt


def test_saved_notes_are_recalled_in_any_thread(
    agent: Agent, fake_provider: FakeProviderServer
) -> None:
    agent.desk("POST", "/memory", json={"text": "The billing service is written in Elixir."})
    fake_provider.provider.queue(CHAT_MODEL, Text("ok"))
    _ask(agent, "What is the billing service written in?")
    assert "Elixir" in _system_prompt(fake_provider)


def test_memories_of_the_same_thread_are_not_injected(
    agent: Agent, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(CHAT_MODEL, Text("Teal it is."))
    thread_id = _ask(agent, "My favourite colour is teal.")
    wait_until(lambda: _memories(agent), timeout=10)
    agent.client.beta.threads.messages.create(
        thread_id, role="user", content="Which colour is my favourite?"
    )
    assistant = agent.client.beta.assistants.create(model=CHAT_MODEL)
    fake_provider.provider.queue(CHAT_MODEL, Text("teal"))
    run = agent.client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "completed"
    assert "teal" not in _system_prompt(fake_provider).lower()


def test_remember_and_memory_search_tools(agent: Agent, fake_provider: FakeProviderServer) -> None:
    fake_provider.provider.queue(
        CHAT_MODEL,
        ToolCalls([Call("remember", {"text": "The VPN gateway is vpn.example.net"})]),
        Text("Saved."),
        ToolCalls([Call("memory_search", {"query": "VPN gateway"})]),
        Text("done"),
    )
    _ask(agent, "Save the VPN gateway.")
    notes = [m for m in _memories(agent) if m["kind"] == "note"]
    assert [n["text"] for n in notes] == ["The VPN gateway is vpn.example.net"]
    _ask(agent, "What is the VPN gateway?")
    chats = [r for r in fake_provider.provider.requests if r.path.endswith("/chat/completions")]
    tool_output = [m for m in chats[-1].json["messages"] if m["role"] == "tool"][-1]["content"]
    assert "vpn.example.net" in tool_output


def test_memory_api_search_delete_and_export(agent: Agent) -> None:
    for text in ("Staging runs Debian 12.", "Production runs Debian 11.", "Lunch is at noon."):
        assert agent.desk("POST", "/memory", json={"text": text}).status_code == 200
    found = _memories(agent, query="Debian staging")
    assert found[0]["text"] == "Staging runs Debian 12." and "score" in found[0]
    lunch = _memories(agent, query="lunch")[0]
    deleted = agent.desk("DELETE", f"/memory/{lunch['id']}")
    assert deleted.json()["deleted"] is True
    assert agent.desk("GET", f"/memory/{lunch['id']}").status_code == 404
    lines = agent.desk("GET", "/memory/export").text.strip().splitlines()
    assert [json.loads(line)["text"] for line in lines] == [
        "Staging runs Debian 12.",
        "Production runs Debian 11.",
    ]
    assert agent.desk("DELETE", "/memory").json()["count"] == 2
    assert _memories(agent) == []


def test_memory_list_pages_newest_first(agent: Agent) -> None:
    ids = [agent.desk("POST", "/memory", json={"text": f"fact {i}"}).json()["id"] for i in range(3)]
    first = agent.desk("GET", "/memory", params={"limit": "2"}).json()
    assert first["has_more"] is True and len(first["data"]) == 2
    rest = agent.desk("GET", "/memory", params={"limit": "2", "after": first["last_id"]}).json()
    assert {m["id"] for m in first["data"] + rest["data"]} == set(ids)
    assert rest["has_more"] is False


def test_memory_off_disables_storage_tools_and_api(
    start_agent: AgentFactory, fake_provider: FakeProviderServer
) -> None:
    with start_agent(memory=False) as agent:
        fake_provider.provider.queue(CHAT_MODEL, Text("fine"))
        _ask(agent, "Remember that I like tea.")
        response = agent.desk("GET", "/memory")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "memory_disabled"
    chats = [r for r in fake_provider.provider.requests if r.path.endswith("/chat/completions")]
    offered = {t["function"]["name"] for t in chats[-1].json.get("tools", [])}
    assert "remember" not in offered and "memory_search" not in offered
    assert not (agent.data_dir / "lancedb" / "memories.lance").exists()


def test_hybrid_memory_recalls_by_embedding(
    start_agent: AgentFactory, fake_provider: FakeProviderServer
) -> None:
    with start_agent(embeddings=True) as agent:
        agent.desk("POST", "/memory", json={"text": "Backups go to the bucket named cold-archive."})
        found = _memories(agent, query="bucket backups")
    assert found and found[0]["text"] == "Backups go to the bucket named cold-archive."
    embed_calls = [r for r in fake_provider.provider.requests if r.path.endswith("/embeddings")]
    assert len(embed_calls) >= 2  # the memory, then the query
