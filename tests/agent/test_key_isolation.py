# mypy: disable-error-code="union-attr,operator"
"""The provider key is invisible to tools: not in their environment, not in a file they can read."""

from __future__ import annotations

import httpx
import openai

from bureau_agent.protocol import PROTOCOL_VERSION
from tests.agent.conftest import KEY, TOKEN, Agent
from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider import Call, ToolCalls

ROTATED = "sk-rotated-key-abcdefghijklmnop"


def shell_output(client: openai.OpenAI, fake: FakeProviderServer, command: str) -> str:
    fake.provider.queue("*", ToolCalls([Call("shell", {"command": command})]))
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "run"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    return str(step.step_details.tool_calls[0].function.output)  # type: ignore[union-attr]


def rotate_key(agent: Agent) -> None:
    body = {
        "protocol_version": PROTOCOL_VERSION,
        "provider": {
            "provider": "openai",
            "api_key": ROTATED,
            "model": "gpt-4o",
            "endpoint": agent.config.assistant_chat_completion_endpoint,
        },
    }
    response = httpx.put(
        agent.url + "/desk/v1/provider", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_shell_environment_has_no_key(
    agent: Agent, client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    output = shell_output(client, fake_provider, "env")
    assert "exit code 0" in output and "PATH=" in output
    assert KEY not in output and "ASSISTANT_" not in output and "BUREAU_AGENT_TOKEN" not in output


def test_shell_cannot_read_the_key_file(
    agent: Agent, client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    rotate_key(agent)
    key_file = agent.config.secrets_dir / "provider.json"
    assert ROTATED in key_file.read_text()  # the file exists and holds the key (read as the agent)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    output = shell_output(client, fake_provider, f"cat {key_file}")
    assert ROTATED not in output and "exit code 0" not in output
    assert "Permission denied" in output


def test_rotated_key_is_used_for_the_next_run(
    agent: Agent, client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    rotate_key(agent)
    shell_output(client, fake_provider, "true")
    chat = [r for r in fake_provider.provider.requests if r.path.endswith("/chat/completions")]
    assert chat[-1].headers["authorization"] == f"Bearer {ROTATED}"


def test_file_tools_refuse_paths_outside_the_workspace(
    agent: Agent, client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(
        "*", ToolCalls([Call("read_file", {"path": "../secrets/provider.json"})])
    )
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "read"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    output = step.step_details.tool_calls[0].function.output  # type: ignore[union-attr]
    assert "outside the workspace" in output


def test_health_reports_the_provider(agent: Agent) -> None:
    response = httpx.get(
        agent.url + "/desk/v1/health", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    body = response.json()
    assert (body["status"], body["provider"], body["model"]) == ("ok", "openai", "gpt-4o")
    assert KEY not in response.text
