"""Which adapter serves which provider; one SDK client per (provider, endpoint, key)."""

from __future__ import annotations

import hashlib

from bureau_agent.config import DEFAULT_CHAT_ENDPOINTS, AgentConfig
from bureau_agent.credentials import ProviderSettings
from bureau_agent.providers.base import Model
from bureau_agent.providers.errors import NotConfigured
from bureau_agent.providers.retry import RetryingModel
from bureau_agent.services import ModelFactory


def default_model_factory(config: AgentConfig) -> ModelFactory:
    cache: dict[str, Model] = {}

    def make(settings: ProviderSettings) -> Model:
        endpoint = settings.endpoint or DEFAULT_CHAT_ENDPOINTS.get(settings.provider)
        if not endpoint:
            raise NotConfigured(f"no chat endpoint configured for provider {settings.provider!r}")
        key = settings.api_key.get_secret_value()
        fingerprint = hashlib.sha256(f"{settings.provider}\0{endpoint}\0{key}".encode()).hexdigest()
        model = cache.get(fingerprint)
        if model is not None:
            return model
        inner: Model
        # SDKs are imported on first use: a desk loads only its provider's (~25-50 MiB each).
        if settings.provider == "anthropic":
            from bureau_agent.providers.anthropic_messages import AnthropicMessagesModel

            inner = AnthropicMessagesModel(
                api_key=key, endpoint=endpoint, timeout=config.provider_timeout_seconds
            )
        else:
            from bureau_agent.providers.openai_chat import OpenAIChatModel

            inner = OpenAIChatModel(
                api_key=key,
                endpoint=endpoint,
                timeout=config.provider_timeout_seconds,
                provider=settings.provider,
            )
        model = RetryingModel(
            inner,
            max_retries=config.provider_max_retries,
            max_wait=config.provider_max_retry_wait,
        )
        cache.clear()  # a rotated key replaces the old client
        cache[fingerprint] = model
        return model

    return make
