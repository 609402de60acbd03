"""A real agent server on loopback, wired to the fake provider, and SDK clients for it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from fastapi import FastAPI

from bureau_agent.app import create_app
from bureau_agent.config import AgentConfig
from bureau_agent.services import Services
from tests.fakes.fixtures import FakeProviderServer
from tests.helpers.servers import serve_asgi

TOKEN = "agent-test-token"
KEY = "sk-test-provider-key-0123456789"


class Clock:
    """A settable clock for expiry tests (real time plus an offset)."""

    def __init__(self) -> None:
        import time

        self._time = time.time
        self.offset = 0.0

    def __call__(self) -> float:
        return self._time() + self.offset


@dataclass
class Agent:
    app: FastAPI
    url: str
    clock: Clock
    config: AgentConfig
    server: Any = None

    def stop(self) -> None:
        """Stop the server now (graceful shutdown, as on SIGTERM)."""
        if self.server is not None:
            self.server.__exit__(None, None, None)
            self.server = None

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def client(self, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=TOKEN, max_retries=0, **kwargs)


def agent_config(tmp_path: Path, fake: FakeProviderServer | None, **env: Any) -> AgentConfig:
    values: dict[str, Any] = {
        "BUREAU_AGENT_DATA_DIR": str(tmp_path / "data"),
        "BUREAU_AGENT_TOKEN": TOKEN,
        "BUREAU_PROVIDER_MAX_RETRY_WAIT": 0.2,
        "BUREAU_TOOL_TIMEOUT": 10,
    }
    if fake is not None:
        values.update(
            ASSISTANT_PROVIDER="openai",
            ASSISTANT_CHAT_COMPLETION_ENDPOINT=fake.openai_base_url + "/chat/completions",
            ASSISTANT_API_KEY=KEY,
            ASSISTANT_MODEL="gpt-4o",
        )
    values.update(env)
    return AgentConfig(**values)


@pytest.fixture
def agent_root() -> Iterator[Path]:
    """A traversable (0711) directory for the data dir, as in a desk: the tool user (nobody,
    when the tests run as root) can reach the workspace inside, not the secrets."""
    root = Path(tempfile.mkdtemp(prefix="bureau-agent-test-"))
    os.chmod(root, 0o711)  # noqa: S103 - as a desk data dir
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def start_agent(agent_root: Path) -> Iterator[Callable[..., Agent]]:
    """Start agents (several for restart tests); each stops when the test ends."""
    tmp_path = agent_root
    stack: list[Any] = []

    def start(
        fake: FakeProviderServer | None = None, model_factory: Any = None, **env: Any
    ) -> Agent:
        config = agent_config(tmp_path, fake, **env)
        clock = Clock()
        app = create_app(config, clock=clock, model_factory=model_factory)
        ctx = serve_asgi(app)
        server = ctx.__enter__()
        agent = Agent(app, server.url, clock, config, ctx)
        stack.append(agent)
        return agent

    yield start
    for agent in reversed(stack):
        agent.stop()


@pytest.fixture
def agent(start_agent: Callable[..., Agent], fake_provider: FakeProviderServer) -> Agent:
    return start_agent(fake_provider)


@pytest.fixture
def client(agent: Agent) -> Iterator[openai.OpenAI]:
    with agent.client() as c:
        yield c


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The openai SDK marks the Assistants API deprecated; these tests exercise it on purpose."""
    here = Path(__file__).parent
    marks = [
        pytest.mark.filterwarnings("ignore:The Assistants API is deprecated:DeprecationWarning"),
        pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning"),
    ]
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            for mark in marks:
                item.add_marker(mark)
