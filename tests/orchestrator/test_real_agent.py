"""The real bureau-agent behind the control plane: it enrolls with the bootstrap token from the
rendered user-data, the desk becomes ready, and the official OpenAI SDK talks to it through the
agent proxy with a Bureau token (the model answers from the fake provider)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx2
import pytest
from openai import OpenAI

from tests.fakes.fixtures import FakeProviderServer
from tests.helpers.servers import free_port
from tests.orchestrator.conftest import ControlPlane, desk_body, running_control_plane
from tests.orchestrator.helpers import create_spec, wait_state
from tests.orchestrator.real_agent import serve_real_agent


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK deprecates Assistants
def test_openai_sdk_reaches_a_real_enrolled_agent_through_the_proxy(
    tmp_path: Path, database_url: str, agent_wheel: Path, fake_provider: FakeProviderServer
):
    port = free_port()
    with running_control_plane(tmp_path, database_url, agent_wheel) as cp:
        cp.driver.agent_url = f"https://127.0.0.1:{port}"
        _run(cp, port, fake_provider, tmp_path / "agent")


def _run(cp: ControlPlane, port: int, fake_provider: FakeProviderServer, workdir: Path) -> None:
    token = cp.new_user("sdk-user")
    endpoint = fake_provider.openai_base_url + "/chat/completions"
    with cp.client(token) as client:
        created = client.post("/v1/desks", json=desk_body("sdk", endpoint=endpoint))
        assert created.status_code == 201, created.text
        desk_id = created.json()["id"]
        wait_state(client, desk_id, "booting")
        spec = create_spec(cp, desk_id)
        with serve_real_agent(cp.url, cp.ca, spec, port, workdir):
            wait_state(client, desk_id, "ready")
            http = httpx2.Client(verify=ssl.create_default_context(cafile=str(cp.ca)))
            sdk = OpenAI(
                base_url=f"{cp.url}/v1/desks/{desk_id}/agent/v1", api_key=token, http_client=http
            )
            assistant = sdk.beta.assistants.create(model="gpt-4o-mini", name="t")
            thread = sdk.beta.threads.create(
                messages=[{"role": "user", "content": "hello through the proxy"}]
            )
            run = sdk.beta.threads.runs.create_and_poll(
                thread_id=thread.id, assistant_id=assistant.id
            )
            messages = sdk.beta.threads.messages.list(thread_id=thread.id, order="asc")
            http.close()
    assert run.status == "completed", run.last_error
    reply = messages.data[-1].content[0]
    assert reply.type == "text" and "hello through the proxy" in reply.text.value
