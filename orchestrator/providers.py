"""The providers a desk can use, and live key checks against their models endpoint.

The key is used for one request and dropped; errors never carry it. Base URLs come from settings
(``BUREAU_OPENAI_API_BASE`` ...) so tests point them at the fake provider.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel

from orchestrator.settings import Settings

PROVIDER_INFO: dict[str, dict[str, Any]] = {
    "anthropic": {"label": "Anthropic", "key_prefix": "sk-ant-", "needs_endpoint": False},
    "openai": {"label": "OpenAI", "key_prefix": "sk-", "needs_endpoint": False},
    "openrouter": {"label": "OpenRouter", "key_prefix": "sk-or-", "needs_endpoint": False},
    "custom": {
        "label": "Custom (OpenAI-compatible)",
        "key_prefix": None,
        "needs_endpoint": True,
    },
}
_ANTHROPIC_VERSION = "2023-06-01"


class ProviderPublic(BaseModel):
    name: str
    label: str
    key_prefix: str | None
    needs_endpoint: bool
    models_url: str | None


class ModelInfo(BaseModel):
    id: str
    name: str | None = None


class KeyRejected(Exception):
    """The provider answered 401/403 to this key."""


class ProviderUnavailable(Exception):
    """The provider could not be asked (network, timeout, unexpected answer)."""


def models_url(settings: Settings, provider: str, endpoint: str | None) -> str:
    """The models endpoint for a provider, derived from a custom chat endpoint when given."""
    if endpoint:
        base = endpoint.rstrip("/")
        for suffix in ("/chat/completions", "/messages", "/completions"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
                break
        return base + "/models"
    return settings.provider_api_base(provider) + "/models"


def list_providers(settings: Settings) -> list[ProviderPublic]:
    return [
        ProviderPublic(
            name=name,
            models_url=None if info["needs_endpoint"] else models_url(settings, name, None),
            **info,
        )
        for name, info in PROVIDER_INFO.items()
    ]


def _headers(provider: str, key: str) -> dict[str, str]:
    if provider == "anthropic":
        return {"x-api-key": key, "anthropic-version": _ANTHROPIC_VERSION}
    return {"authorization": f"Bearer {key}"}


async def list_models(
    settings: Settings,
    provider: str,
    key: str,
    endpoint: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[ModelInfo]:
    """GET the provider's models with ``key``; raise KeyRejected / ProviderUnavailable."""
    url = models_url(settings, provider, endpoint)
    try:
        async with httpx.AsyncClient(
            timeout=settings.provider_timeout_seconds, transport=transport
        ) as client:
            if provider == "openrouter" and not endpoint:
                # OpenRouter's model list is public: its key check is GET /key.
                check = await client.get(
                    url[: -len("/models")] + "/key", headers=_headers(provider, key)
                )
                if check.status_code in (401, 403):
                    raise KeyRejected("the provider rejected this key")
            response = await client.get(url, headers=_headers(provider, key))
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(
            f"could not reach the provider's models endpoint ({type(exc).__name__})"
        ) from None
    if response.status_code in (401, 403):
        raise KeyRejected("the provider rejected this key")
    if response.status_code >= 400:
        raise ProviderUnavailable(f"the provider answered HTTP {response.status_code}")
    try:
        data = response.json().get("data", [])
        models = [
            ModelInfo(id=str(item["id"]), name=item.get("display_name") or item.get("name"))
            for item in data
            if isinstance(item, dict) and "id" in item
        ]
    except (ValueError, AttributeError, TypeError):
        raise ProviderUnavailable("the provider's models answer is not the expected JSON") from None
    return sorted(models, key=lambda m: m.id)
