"""A real agent server on loopback (uvicorn) with its data dir, driven by the official SDK."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from bureau_agent.app import create_app
from bureau_agent.config import AgentConfig, load_config
from tests.fakes.fixtures import FakeProviderServer
from tests.helpers.servers import serve_asgi
from tests.helpers.wait import wait_until

CHAT_MODEL = "gpt-fake"
EMBEDDINGS_MODEL = "text-embedding-3-small"


@dataclass
class Agent:
    url: str
    client: OpenAI
    data_dir: Path

    def desk(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the agent's own ``/desk/v1`` API."""
        return httpx.request(method, f"{self.url}/desk/v1{path}", timeout=30, **kwargs)

    def wait_store(self, store_id: str, timeout: float = 60) -> Any:
        """The vector store once no file is in progress any more."""
        return wait_until(
            lambda: (
                (s := self.client.vector_stores.retrieve(store_id)).status != "in_progress" and s
            ),
            timeout=timeout,
            message=f"vector store {store_id} processed",
        )


AgentFactory = Callable[..., contextlib.AbstractContextManager[Agent]]


def agent_config(
    data_dir: Path,
    provider: FakeProviderServer | None,
    *,
    embeddings: bool,
    memory: bool = True,
    env_file: Path | None = None,
) -> AgentConfig:
    """The test agent's settings; ``env_file`` is read as the agent's ``--config`` file."""
    settings: dict[str, Any] = {
        "BUREAU_AGENT_DATA_DIR": data_dir,
        "BUREAU_MEMORY": "on" if memory else "off",
    }
    if provider is not None:
        settings |= {
            "ASSISTANT_PROVIDER": "openai",
            "ASSISTANT_API_KEY": "sk-test-chat-0000",
            "ASSISTANT_MODEL": CHAT_MODEL,
            "ASSISTANT_CHAT_COMPLETION_ENDPOINT": provider.openai_base_url + "/chat/completions",
        }
        if embeddings:
            settings |= {
                "EMBEDDINGS_PROVIDER": "custom",
                "EMBEDDINGS_API_KEY": "sk-test-embed-0000",
                "EMBEDDINGS_MODEL": EMBEDDINGS_MODEL,
                "EMBEDDINGS_ENDPOINT": provider.openai_base_url + "/embeddings",
            }
    return load_config(env_file, **settings)


@pytest.fixture
def start_agent(tmp_path: Path, fake_provider: FakeProviderServer) -> Iterator[AgentFactory]:
    """``with start_agent(embeddings=True) as agent:`` — restartable on the same data dir."""

    @contextlib.contextmanager
    def start(
        *,
        embeddings: bool = False,
        memory: bool = True,
        data_dir: Path | None = None,
        clock: Callable[[], float] | None = None,
        env_file: Path | None = None,
    ) -> Iterator[Agent]:
        directory = data_dir or tmp_path / "agent"
        config = agent_config(
            directory, fake_provider, embeddings=embeddings, memory=memory, env_file=env_file
        )
        with serve_asgi(create_app(config, clock=clock)) as server:
            client = OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
            try:
                yield Agent(server.url, client, directory)
            finally:
                client.close()

    yield start


@pytest.fixture
def agent(start_agent: AgentFactory) -> Iterator[Agent]:
    """An agent without embeddings: full-text search only."""
    with start_agent() as running:
        yield running


@pytest.fixture
def hybrid_agent(start_agent: AgentFactory) -> Iterator[Agent]:
    """An agent with the fake provider's embeddings: hybrid search."""
    with start_agent(embeddings=True) as running:
        yield running


def upload(agent: Agent, tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    with path.open("rb") as handle:
        return agent.client.files.create(file=handle, purpose="assistants").id
