"""Desk input rules, with messages a user understands. Never echoes a key in a message.

``check_desk_create`` and friends raise ``InvalidInput(field, message)``; the API turns it into a
422 whose ``detail`` has the same shape as FastAPI's (``loc``, ``msg``, ``type``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from orchestrator.drivers.base import DESK_SIZES
from orchestrator.models import DeskCreate, DeskUpdate, EmbeddingsIn, ProviderUpdateIn

PROVIDERS = ("anthropic", "openai", "openrouter", "custom")
EMBEDDINGS_PROVIDERS = ("openai", "openrouter", "custom")
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\s]")
#: Hosts the qemu driver forwards into guests (DESIGN.md §4); http is admitted there in dev.
FORWARD_HOSTS = ("10.0.2.2", "10.0.2.100")


class InvalidInput(ValueError):
    """One field is wrong; ``message`` says how to fix it."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def check_name(name: str, loc: tuple[str | int, ...] = ("body", "name")) -> None:
    if not NAME_RE.match(name):
        raise InvalidInput(
            loc,
            "name must be 1 to 63 characters of lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit",
        )


def check_provider(provider: str, loc: tuple[str | int, ...], allowed: tuple[str, ...]) -> None:
    if provider not in allowed:
        raise InvalidInput(loc, f"provider must be one of: {', '.join(allowed)}")


def check_key(provider: str, key: str, loc: tuple[str | int, ...]) -> None:
    """Format check per provider; the message never contains the key."""
    if not key:
        raise InvalidInput(loc, "api_key must not be empty")
    if len(key) > 512 or _CONTROL.search(key):
        raise InvalidInput(loc, "api_key must be one line without spaces, at most 512 characters")
    if provider == "anthropic" and not key.startswith("sk-ant-"):
        raise InvalidInput(loc, "an Anthropic key starts with sk-ant-")
    if provider == "openrouter" and not key.startswith("sk-or-"):
        raise InvalidInput(loc, "an OpenRouter key starts with sk-or-")
    if provider == "openai":
        if key.startswith("sk-ant-"):
            raise InvalidInput(loc, "this is an Anthropic key; choose provider anthropic")
        if key.startswith("sk-or-"):
            raise InvalidInput(loc, "this is an OpenRouter key; choose provider openrouter")
        if not key.startswith("sk-"):
            raise InvalidInput(loc, "an OpenAI key starts with sk-")


def _http_allowed_host(host: str) -> bool:
    if host == "localhost" or host in FORWARD_HOSTS:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def check_endpoint(endpoint: str, loc: tuple[str | int, ...], *, allow_http: bool) -> None:
    if len(endpoint) > 2048 or _CONTROL.search(endpoint):
        raise InvalidInput(loc, "endpoint must be a URL without spaces, at most 2048 characters")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        raise InvalidInput(loc, "endpoint is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(loc, "endpoint must be a full https:// URL")
    if parts.username or parts.password:
        raise InvalidInput(loc, "endpoint must not contain a user name or password")
    if parts.scheme == "http":
        if not allow_http:
            raise InvalidInput(loc, "endpoint must use https")
        if not _http_allowed_host(host):
            raise InvalidInput(
                loc, "http endpoints are allowed only on loopback or private addresses"
            )


def check_model(model: str, loc: tuple[str | int, ...]) -> None:
    if not model or not model.strip():
        raise InvalidInput(loc, "model is required (e.g. gpt-4o-mini or claude-sonnet-4-5)")
    if len(model) > 200 or _CONTROL.search(model):
        raise InvalidInput(loc, "model must be one word of at most 200 characters")


def check_max_tool_calls(value: int, loc: tuple[str | int, ...]) -> None:
    if not 1 <= value <= 100:
        raise InvalidInput(loc, "max_tool_calls must be between 1 and 100")


def check_embeddings(emb: EmbeddingsIn, *, allow_http: bool) -> None:
    base: tuple[str | int, ...] = ("body", "embeddings")
    check_provider(emb.provider, (*base, "provider"), EMBEDDINGS_PROVIDERS)
    check_key(emb.provider, emb.api_key.get_secret_value(), (*base, "api_key"))
    check_model(emb.model, (*base, "model"))
    if emb.endpoint is not None:
        check_endpoint(emb.endpoint, (*base, "endpoint"), allow_http=allow_http)
    elif emb.provider == "custom":
        raise InvalidInput((*base, "endpoint"), "a custom embeddings provider needs an endpoint")


def check_desk_create(body: DeskCreate, *, allow_http: bool) -> None:
    check_name(body.name)
    check_provider(body.provider, ("body", "provider"), PROVIDERS)
    check_key(body.provider, body.api_key.get_secret_value(), ("body", "api_key"))
    check_model(body.model, ("body", "model"))
    if body.endpoint is not None:
        check_endpoint(body.endpoint, ("body", "endpoint"), allow_http=allow_http)
    elif body.provider == "custom":
        raise InvalidInput(
            ("body", "endpoint"), "a custom provider needs an endpoint (its chat completions URL)"
        )
    if body.longer_context_model is not None:
        check_model(body.longer_context_model, ("body", "longer_context_model"))
    check_max_tool_calls(body.max_tool_calls, ("body", "max_tool_calls"))
    if body.size not in DESK_SIZES:
        raise InvalidInput(("body", "size"), f"size must be one of: {', '.join(DESK_SIZES)}")
    if body.region is not None and not REGION_RE.match(body.region):
        raise InvalidInput(("body", "region"), "region must be a short lowercase name like fsn1")
    if body.embeddings is not None:
        check_embeddings(body.embeddings, allow_http=allow_http)


def check_desk_update(body: DeskUpdate) -> None:
    if body.name is not None:
        check_name(body.name)
    if body.model is not None:
        check_model(body.model, ("body", "model"))
    if body.longer_context_model is not None:
        check_model(body.longer_context_model, ("body", "longer_context_model"))
    if body.max_tool_calls is not None:
        check_max_tool_calls(body.max_tool_calls, ("body", "max_tool_calls"))


@dataclass(frozen=True)
class ResolvedProvider:
    provider: str
    model: str
    endpoint: str | None


def check_provider_update(
    body: ProviderUpdateIn, current: ResolvedProvider, *, allow_http: bool
) -> ResolvedProvider:
    """Validate a key re-supply/rotation against the desk's current provider settings."""
    provider = body.provider or current.provider
    check_provider(provider, ("body", "provider"), PROVIDERS)
    check_key(provider, body.api_key.get_secret_value(), ("body", "api_key"))
    model = body.model or current.model
    check_model(model, ("body", "model"))
    endpoint = body.endpoint if body.endpoint is not None else current.endpoint
    if body.provider and body.provider != current.provider and body.endpoint is None:
        endpoint = None
    if endpoint is not None:
        check_endpoint(endpoint, ("body", "endpoint"), allow_http=allow_http)
    elif provider == "custom":
        raise InvalidInput(("body", "endpoint"), "a custom provider needs an endpoint")
    if body.embeddings is not None:
        check_embeddings(body.embeddings, allow_http=allow_http)
    return ResolvedProvider(provider, model, endpoint)


def key_hint(provider: str, key: str) -> str:
    """What the desk keeps of a key: the provider and the last four characters."""
    return f"{provider} …{key[-4:]}" if len(key) >= 8 else f"{provider} …"
