"""``/v1/providers``: what a desk can use, and the model selector (key used once)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, SecretStr

from orchestrator.api.deps import CurrentUser, RuntimeDep
from orchestrator.api.ratelimit import per_user
from orchestrator.providers import ModelInfo, ProviderPublic, list_models, list_providers
from orchestrator.validation import PROVIDERS, InvalidInput, check_endpoint, check_key

router = APIRouter(prefix="/v1/providers", tags=["providers"])


class ModelsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    api_key: SecretStr
    endpoint: str | None = None


class ModelList(BaseModel):
    data: list[ModelInfo]


@router.get("", response_model=list[ProviderPublic])
def get_providers(rt: RuntimeDep, _user: CurrentUser) -> list[ProviderPublic]:
    return list_providers(rt.settings)


@router.post(
    "/{provider}/models",
    response_model=ModelList,
    dependencies=[Depends(per_user("provider_check", "model listings"))],
)
async def post_models(
    provider: str, body: ModelsRequest, rt: RuntimeDep, _user: CurrentUser
) -> ModelList:
    if provider not in PROVIDERS:
        raise InvalidInput(("path", "provider"), f"provider must be one of: {', '.join(PROVIDERS)}")
    key = body.api_key.get_secret_value()
    check_key(provider, key, ("body", "api_key"))
    if body.endpoint is not None:
        check_endpoint(
            body.endpoint, ("body", "endpoint"), allow_http=rt.settings.allow_http_endpoints
        )
    elif provider == "custom":
        raise InvalidInput(("body", "endpoint"), "a custom provider needs an endpoint")
    models = await list_models(rt.settings, provider, key, body.endpoint)
    return ModelList(data=models)
