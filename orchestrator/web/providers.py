"""What the forms tell users about each provider: where to get a key and what it looks like."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    label: str
    key_prefix: str
    hint: str
    needs_endpoint: bool = False
    embeddings: bool = False
    default_embeddings_model: str = ""


PROVIDERS: tuple[ProviderInfo, ...] = (
    ProviderInfo(
        "anthropic",
        "Anthropic (Claude)",
        "sk-ant-",
        "Create a key at console.anthropic.com → API keys; it starts with sk-ant-.",
    ),
    ProviderInfo(
        "openai",
        "OpenAI",
        "sk-",
        "Create a key at platform.openai.com → API keys; it starts with sk-.",
        embeddings=True,
        default_embeddings_model="text-embedding-3-small",
    ),
    ProviderInfo(
        "openrouter",
        "OpenRouter",
        "sk-or-",
        "Create a key at openrouter.ai → Keys; it starts with sk-or-.",
        embeddings=True,
        default_embeddings_model="openai/text-embedding-3-small",
    ),
    ProviderInfo(
        "custom",
        "Custom endpoint (OpenAI-compatible)",
        "",
        "Any OpenAI-compatible server (vLLM, Ollama…): give its chat completions URL and its key.",
        needs_endpoint=True,
        embeddings=True,
    ),
)
BY_NAME = {info.name: info for info in PROVIDERS}
EMBEDDINGS_PROVIDERS = tuple(info for info in PROVIDERS if info.embeddings)


def key_prefix_problem(provider: str, api_key: str) -> str | None:
    """A user-facing sentence when ``api_key`` cannot be a key of ``provider``, else None."""
    info = BY_NAME.get(provider)
    if info is None or not info.key_prefix:
        return None
    if provider == "openai" and api_key.startswith(("sk-ant-", "sk-or-")):
        other = "an Anthropic" if api_key.startswith("sk-ant-") else "an OpenRouter"
        return f"This looks like {other} key, not an OpenAI key. Pick the matching provider."
    if not api_key.startswith(info.key_prefix):
        return (
            f"{info.label} keys start with {info.key_prefix} — check that you pasted the whole key."
        )
    return None
