"""The agent's settings: Grist-style environment names, or an env file (``--config``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ProviderKind = Literal["anthropic", "openai", "openrouter", "custom"]

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
"""OpenAI's per-file upload limit."""

DEFAULT_CHAT_ENDPOINTS: dict[str, str] = {
    "openai": "https://api.openai.com/v1/chat/completions",
    "openrouter": "https://openrouter.ai/api/v1/chat/completions",
    "anthropic": "https://api.anthropic.com/v1/messages",
}
DEFAULT_EMBEDDINGS_ENDPOINTS: dict[str, str] = {
    "openai": "https://api.openai.com/v1/embeddings",
    "openrouter": "https://openrouter.ai/api/v1/embeddings",
}


class AgentConfig(BaseSettings):
    """Everything the agent reads from its environment. Built by the CLI, never at import.

    Secrets are ``SecretStr`` so they never print. ``provider``/``api_key`` may be unset: the agent
    then serves its API and reports ``awaiting_key`` until the control plane sends a key.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_ignore_empty=True)

    assistant_provider: ProviderKind | None = Field(default=None, alias="ASSISTANT_PROVIDER")
    assistant_chat_completion_endpoint: str | None = Field(
        default=None, alias="ASSISTANT_CHAT_COMPLETION_ENDPOINT"
    )
    assistant_api_key: SecretStr | None = Field(default=None, alias="ASSISTANT_API_KEY")
    assistant_model: str | None = Field(default=None, alias="ASSISTANT_MODEL")
    assistant_longer_context_model: str | None = Field(
        default=None, alias="ASSISTANT_LONGER_CONTEXT_MODEL"
    )
    assistant_max_tool_calls: int = Field(
        default=10, ge=1, le=100, alias="ASSISTANT_MAX_TOOL_CALLS"
    )

    embeddings_provider: Literal["openai", "openrouter", "custom"] | None = Field(
        default=None, alias="EMBEDDINGS_PROVIDER"
    )
    embeddings_endpoint: str | None = Field(default=None, alias="EMBEDDINGS_ENDPOINT")
    embeddings_api_key: SecretStr | None = Field(default=None, alias="EMBEDDINGS_API_KEY")
    embeddings_model: str | None = Field(default=None, alias="EMBEDDINGS_MODEL")

    agent_token: SecretStr | None = Field(default=None, alias="BUREAU_AGENT_TOKEN")
    data_dir: Path = Field(default=Path("/var/lib/bureau-agent"), alias="BUREAU_AGENT_DATA_DIR")
    memory: Literal["on", "off"] = Field(default="on", alias="BUREAU_MEMORY")

    # In-VM enrollment (``bureau-agent run``).
    desk_id: str | None = Field(default=None, alias="BUREAU_DESK_ID")
    control_plane_url: str | None = Field(default=None, alias="BUREAU_CONTROL_PLANE_URL")
    control_plane_ca_file: Path = Field(
        default=Path("/etc/bureau/control-plane-ca.pem"), alias="BUREAU_CONTROL_PLANE_CA_FILE"
    )
    bootstrap_token_file: Path = Field(
        default=Path("/etc/bureau/bootstrap-token"), alias="BUREAU_BOOTSTRAP_TOKEN_FILE"
    )
    agent_port: int = Field(default=7443, alias="BUREAU_AGENT_PORT")
    agent_host: str = Field(default="0.0.0.0", alias="BUREAU_AGENT_HOST")
    user_data_copies: list[Path] = Field(
        default=[
            Path("/var/lib/cloud/instance/user-data.txt"),
            Path("/var/lib/cloud/instance/user-data.txt.i"),
            Path("/var/lib/cloud/instance/cloud-config.txt"),
        ],
        alias="BUREAU_USER_DATA_COPIES",
    )

    # Tools.
    workspace_dir: Path | None = Field(default=None, alias="BUREAU_WORKSPACE_DIR")
    tool_user: str | None = Field(default=None, alias="BUREAU_TOOL_USER")
    tool_timeout_seconds: float = Field(default=120.0, gt=0, alias="BUREAU_TOOL_TIMEOUT")
    tool_output_limit: int = Field(default=20_000, ge=256, alias="BUREAU_TOOL_OUTPUT_LIMIT")

    # Provider calls.
    provider_timeout_seconds: float = Field(default=120.0, gt=0, alias="BUREAU_PROVIDER_TIMEOUT")
    provider_max_retries: int = Field(default=4, ge=0, le=10, alias="BUREAU_PROVIDER_MAX_RETRIES")
    provider_max_retry_wait: float = Field(
        default=30.0, ge=0, alias="BUREAU_PROVIDER_MAX_RETRY_WAIT"
    )
    run_expiry_seconds: int = Field(default=600, ge=1, alias="BUREAU_RUN_EXPIRY_SECONDS")

    # Files, vector stores and memory.
    max_upload_bytes: int = Field(
        default=MAX_UPLOAD_BYTES, ge=1, le=MAX_UPLOAD_BYTES, alias="BUREAU_MAX_UPLOAD_BYTES"
    )
    """Largest accepted file upload (OpenAI's limit, 512 MB, is the ceiling)."""
    ingest_workers: int = Field(default=4, ge=0, le=32, alias="BUREAU_INGEST_WORKERS")
    """Files indexed in parallel (0: files are queued and wait, e.g. for maintenance)."""
    memory_top_k: int = Field(default=3, ge=0, le=20, alias="BUREAU_MEMORY_TOP_K")
    """Memories recalled into the context before a run (0: none, the tools still work)."""
    memory_min_score: float = Field(default=0.3, ge=0.0, le=1.0, alias="BUREAU_MEMORY_MIN_SCORE")
    """Relevance a memory needs to be recalled before a run (the search's 0 … 1 score)."""
    memory_max_items: int = Field(
        default=5000, ge=10, le=1_000_000, alias="BUREAU_MEMORY_MAX_ITEMS"
    )
    """Memories kept; beyond it the oldest exchanges are dropped first."""

    @property
    def chat_endpoint(self) -> str | None:
        if self.assistant_chat_completion_endpoint:
            return self.assistant_chat_completion_endpoint
        return DEFAULT_CHAT_ENDPOINTS.get(self.assistant_provider or "")

    @property
    def embeddings_url(self) -> str | None:
        if self.embeddings_endpoint:
            return self.embeddings_endpoint
        return DEFAULT_EMBEDDINGS_ENDPOINTS.get(self.embeddings_provider or "")

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "agent.sqlite3"


def load_config(env_file: Path | None = None, **overrides: Any) -> AgentConfig:
    """Read the environment (and ``env_file`` when given); ``overrides`` win over both."""
    if env_file is not None:
        return AgentConfig(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    return AgentConfig(**overrides)
