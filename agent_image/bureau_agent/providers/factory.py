"""Which adapter serves which provider."""

from __future__ import annotations

from bureau_agent.config import AgentConfig
from bureau_agent.credentials import ProviderSettings
from bureau_agent.providers.base import Model
from bureau_agent.services import ModelFactory


def default_model_factory(config: AgentConfig) -> ModelFactory:
    def make(settings: ProviderSettings, model: str) -> Model:
        raise NotImplementedError("providers land with the loop")

    return make
