"""Pytest fixtures for the test doubles in tests/fakes (loaded by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.fakes.provider import FakeProvider
from tests.helpers.servers import serve_asgi


@dataclass
class FakeProviderServer:
    """A running fake provider and the base URLs each SDK wants."""

    provider: FakeProvider
    url: str

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def openrouter_base_url(self) -> str:
        return self.url + "/api/v1"


@pytest.fixture(scope="session")
def fake_provider_server() -> Iterator[FakeProviderServer]:
    """One fake provider server for the whole session (state is reset per test by the fixture)."""
    provider = FakeProvider()
    with serve_asgi(provider.app) as server:
        yield FakeProviderServer(provider, server.url)


@pytest.fixture
def fake_provider(fake_provider_server: FakeProviderServer) -> Iterator[FakeProviderServer]:
    """The shared fake provider: no scripts, no recorded requests, any key, no context limits."""
    provider = fake_provider_server.provider
    provider.reset()
    provider.accepted_keys = None
    provider.context_windows.clear()
    yield fake_provider_server
    provider.reset()
    provider.accepted_keys = None
    provider.context_windows.clear()
