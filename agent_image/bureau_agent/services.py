"""The agent's services, built once by ``create_app`` and reached through ``request.app.state``.

Injectable for tests: the clock, the model factory (which transport/SDK client a provider gets).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bureau_agent.config import AgentConfig
from bureau_agent.credentials import Credentials, ProviderSettings
from bureau_agent.hooks import RunHooks
from bureau_agent.providers.base import Model
from bureau_agent.store.db import Database
from bureau_agent.store.documents import DocumentStore
from bureau_agent.tools.base import FileResolver, ToolRegistry
from bureau_agent.tools.sandbox import Sandbox

if TYPE_CHECKING:
    from bureau_agent.runner.manager import RunManager

Clock = Callable[[], float]
ModelFactory = Callable[[ProviderSettings], Model]
"""provider settings -> a Model for that endpoint and key (the model name is per request)."""


@dataclass
class Services:
    config: AgentConfig
    db: Database
    docs: DocumentStore
    tools: ToolRegistry
    credentials: Credentials
    model_factory: ModelFactory
    clock: Clock = time.time
    hooks: list[RunHooks] = field(default_factory=list)
    """Memory and other run hooks; the loop calls each in order."""
    files: FileResolver | None = None
    """Set by the files extension so code_interpreter can reach uploaded files."""
    create_vector_store: Callable[[dict[str, Any]], Awaitable[str]] | None = None
    """Set by the vector stores extension: create one from an inline ``vector_stores[]`` spec
    (``file_ids``, ``chunking_strategy``, ``metadata``; already validated) and return its id."""
    add_vector_store_files: Callable[[str, list[str]], Awaitable[None]] | None = None
    """Set by the vector stores extension: add files (ids) to an existing vector store."""
    started_at: float = field(default_factory=time.monotonic)
    runs: RunManager | None = None
    sandbox: Sandbox | None = None
    """Workspace, tool user and environment of tool subprocesses (set with the built-in tools)."""

    def now(self) -> int:
        return int(self.clock())

    def run_manager(self) -> RunManager:
        if self.runs is None:
            raise RuntimeError("run manager not started")
        return self.runs
