"""The provider key(s) the agent holds: in memory, and in a 0600 file only the agent can read.

The key file lives under ``<data dir>/secrets/`` (0700, owned by the agent's user); tool commands
run as another user (``desk``, or ``nobody`` when the agent is root and no ``desk`` user exists), so
they can neither read it nor the agent's environment.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bureau_agent.config import AgentConfig
from bureau_agent.protocol import EmbeddingsCredentials, ProviderCredentials

PROVIDER_FILE = "provider.json"


@dataclass
class ProviderSettings:
    """The chat provider in use; ``api_key`` never prints (``SecretStr``)."""

    provider: str
    api_key: SecretStr
    model: str
    endpoint: str | None = None
    longer_context_model: str | None = None
    max_tool_calls: int = 10


@dataclass
class Credentials:
    provider: ProviderSettings | None = None
    embeddings: EmbeddingsCredentials | None = None


def from_config(config: AgentConfig) -> ProviderSettings | None:
    if not (config.assistant_provider and config.assistant_api_key and config.assistant_model):
        return None
    return ProviderSettings(
        provider=config.assistant_provider,
        api_key=config.assistant_api_key,
        model=config.assistant_model,
        endpoint=config.chat_endpoint,
        longer_context_model=config.assistant_longer_context_model,
        max_tool_calls=config.assistant_max_tool_calls,
    )


def from_wire(creds: ProviderCredentials) -> ProviderSettings:
    return ProviderSettings(
        provider=creds.provider,
        api_key=creds.api_key,
        model=creds.model,
        endpoint=creds.endpoint,
        longer_context_model=creds.longer_context_model,
        max_tool_calls=creds.max_tool_calls,
    )


def _secure_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def save(
    secrets_dir: Path, provider: ProviderCredentials, embeddings: EmbeddingsCredentials | None
) -> Path:
    """Write the key file atomically, 0600 from the first byte."""
    _secure_dir(secrets_dir)
    target = secrets_dir / PROVIDER_FILE
    tmp = secrets_dir / (PROVIDER_FILE + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    body = {
        "provider": provider.model_dump(mode="json"),
        "embeddings": embeddings.model_dump(mode="json") if embeddings else None,
    }
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh)
    os.replace(tmp, target)
    return target


def load(secrets_dir: Path) -> tuple[ProviderCredentials, EmbeddingsCredentials | None] | None:
    path = secrets_dir / PROVIDER_FILE
    if not path.exists():
        return None
    body = json.loads(path.read_text())
    embeddings = body.get("embeddings")
    return (
        ProviderCredentials.model_validate(body["provider"]),
        EmbeddingsCredentials.model_validate(embeddings) if embeddings else None,
    )
