"""The desk forms: read the posted fields, check them, build API bodies, explain API errors.

Errors are keyed by the form's field names and worded for people, not for programmers: the API's
422 details (pydantic's ``loc``/``type``) are mapped onto the field that caused them. No message
ever repeats a submitted key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.web.providers import BY_NAME, key_prefix_problem

FORM_LEVEL = "__all__"
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_TOOL_CALLS_RANGE = (1, 100)
_API_TO_FORM = {
    ("name",): "name",
    ("size",): "size",
    ("provider",): "provider",
    ("endpoint",): "endpoint",
    ("api_key",): "api_key",
    ("model",): "model",
    ("longer_context_model",): "longer_context_model",
    ("max_tool_calls",): "max_tool_calls",
    ("embeddings",): "emb_provider",
    ("embeddings", "provider"): "emb_provider",
    ("embeddings", "endpoint"): "emb_endpoint",
    ("embeddings", "api_key"): "emb_api_key",
    ("embeddings", "model"): "emb_model",
}
_KEYWORD_FIELDS = (
    ("key", "api_key"),
    ("model", "model"),
    ("endpoint", "endpoint"),
    ("name", "name"),
)


@dataclass
class ProviderFields:
    """Provider, key and model fields (shared by the create and the settings forms)."""

    provider: str = ""
    endpoint: str = ""
    api_key: str = field(default="", repr=False)
    model: str = ""
    longer_context_model: str = ""
    max_tool_calls: str = "10"
    emb_enabled: bool = False
    emb_provider: str = "openai"
    emb_endpoint: str = ""
    emb_key_mode: str = "reuse"
    emb_api_key: str = field(default="", repr=False)
    emb_model: str = ""

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> ProviderFields:
        def text(name: str, default: str = "") -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else default

        return cls(
            provider=text("provider"),
            endpoint=text("endpoint"),
            api_key=text("api_key"),
            model=text("model") or text("model_manual"),
            longer_context_model=text("longer_context_model"),
            max_tool_calls=text("max_tool_calls", "10") or "10",
            emb_enabled=text("emb_enabled") in ("on", "true", "1", "yes"),
            emb_provider=text("emb_provider", "openai") or "openai",
            emb_endpoint=text("emb_endpoint"),
            emb_key_mode=text("emb_key_mode", "reuse") or "reuse",
            emb_api_key=text("emb_api_key"),
            emb_model=text("emb_model"),
        )

    def secrets(self) -> tuple[str, ...]:
        return tuple(value for value in (self.api_key, self.emb_api_key) if value)

    def check(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        info = BY_NAME.get(self.provider)
        if info is None:
            errors["provider"] = "Choose your model provider from the list."
        elif info.needs_endpoint and not self.endpoint:
            errors["endpoint"] = "Give the full URL of your server's chat completions endpoint."
        if self.endpoint and not re.match(r"^https?://", self.endpoint):
            errors["endpoint"] = "Enter a full URL starting with https://"
        if not self.api_key:
            errors["api_key"] = "Paste your API key."
        elif info is not None and (problem := key_prefix_problem(self.provider, self.api_key)):
            errors["api_key"] = problem
        if not self.model:
            errors["model"] = "Pick a model (enter your key first to load the list)."
        low, high = MAX_TOOL_CALLS_RANGE
        if not self.max_tool_calls.isdigit() or not low <= int(self.max_tool_calls) <= high:
            errors["max_tool_calls"] = f"Enter a whole number from {low} to {high}."
        if self.emb_enabled:
            errors.update(self._check_embeddings())
        return errors

    def _check_embeddings(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        info = BY_NAME.get(self.emb_provider)
        if info is None or not info.embeddings:
            errors["emb_provider"] = "Choose an embeddings provider from the list."
        elif info.needs_endpoint and not self.emb_endpoint:
            errors["emb_endpoint"] = "Give the full URL of your server's embeddings endpoint."
        if self.emb_key_mode == "reuse":
            if self.emb_provider != self.provider:
                errors["emb_api_key"] = (
                    "The main key belongs to another provider: paste a key for this one."
                )
        elif not self.emb_api_key:
            errors["emb_api_key"] = "Paste the embeddings key, or choose to reuse the main key."
        elif problem := key_prefix_problem(self.emb_provider, self.emb_api_key):
            errors["emb_api_key"] = problem
        if not self.emb_model:
            errors["emb_model"] = "Name the embeddings model, e.g. text-embedding-3-small."
        return errors

    def provider_body(self) -> dict[str, Any]:
        """The body of ``PUT /v1/desks/{id}/provider`` (and the provider part of a create)."""
        body: dict[str, Any] = {
            "provider": self.provider,
            "api_key": self.api_key,
            "model": self.model,
        }
        if self.endpoint:
            body["endpoint"] = self.endpoint
        if self.emb_enabled:
            embeddings: dict[str, Any] = {
                "provider": self.emb_provider,
                "api_key": self.api_key if self.emb_key_mode == "reuse" else self.emb_api_key,
                "model": self.emb_model,
            }
            if self.emb_endpoint:
                embeddings["endpoint"] = self.emb_endpoint
            body["embeddings"] = embeddings
        return body

    def tuning_body(self) -> dict[str, Any]:
        """The run settings (``PATCH /v1/desks/{id}``; part of the body of a create)."""
        return {
            "longer_context_model": self.longer_context_model or None,
            "max_tool_calls": int(self.max_tool_calls),
        }


@dataclass
class DeskForm:
    name: str = ""
    size: str = "small"
    provider: ProviderFields = field(default_factory=ProviderFields)

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> DeskForm:
        name = form.get("name")
        size = form.get("size")
        return cls(
            name=name.strip() if isinstance(name, str) else "",
            size=size if isinstance(size, str) and size else "small",
            provider=ProviderFields.from_form(form),
        )

    def check(self) -> dict[str, str]:
        errors = self.provider.check()
        if not self.name:
            errors["name"] = "Give your desk a name."
        elif len(self.name) > 63:
            errors["name"] = "Keep the name to 63 characters or fewer."
        elif not NAME_RE.match(self.name):
            errors["name"] = (
                "Use lowercase letters, digits and hyphens only, starting and ending with a "
                "letter or digit (for example: side-project)."
            )
        return errors

    def body(self) -> dict[str, Any]:
        body = {"name": self.name, "size": self.size, **self.provider.provider_body()}
        body["max_tool_calls"] = int(self.provider.max_tool_calls)
        if self.provider.longer_context_model:
            body["longer_context_model"] = self.provider.longer_context_model
        return body


def explain_api_error(status: int, detail: Any, secrets: tuple[str, ...] = ()) -> dict[str, str]:
    """Map an API error answer onto form fields, in plain words, with any key scrubbed out."""
    errors: dict[str, str] = {}
    if isinstance(detail, list):
        for item in detail:
            if isinstance(item, Mapping):
                field_name = _field_of_loc(item.get("loc"))
                errors.setdefault(field_name, _explain_item(item))
    elif isinstance(detail, Mapping):
        message = str(detail.get("message") or detail.get("detail") or detail)
        param = detail.get("param")
        field_name = _field_of_loc(["body", *str(param).split(".")]) if param else FORM_LEVEL
        errors[field_name] = message
    else:
        message = str(detail) if detail else f"The server answered with status {status}."
        errors[_guess_field(message)] = message
    if status == 401:
        errors = {FORM_LEVEL: "Your session has ended: sign in again."}
    elif status in (502, 503, 504):
        details = " ".join(errors.values())
        errors = {
            FORM_LEVEL: "Your desk or your provider is not answering right now (the desk may still "
            f"be starting). Wait a minute and try again. Details: {details}"
        }
    return {name: _scrub(text, secrets) for name, text in errors.items()}


def _field_of_loc(loc: Any) -> str:
    if not isinstance(loc, list | tuple):
        return FORM_LEVEL
    parts = tuple(str(part) for part in loc if part not in ("body", "query"))
    while parts:
        if parts in _API_TO_FORM:
            return _API_TO_FORM[parts]
        parts = parts[:-1]
    return FORM_LEVEL


def _guess_field(message: str) -> str:
    lowered = message.lower()
    for keyword, field_name in _KEYWORD_FIELDS:
        if keyword in lowered:
            return field_name
    return FORM_LEVEL


def _explain_item(item: Mapping[str, Any]) -> str:
    kind = str(item.get("type", ""))
    ctx = item.get("ctx") if isinstance(item.get("ctx"), Mapping) else {}
    assert isinstance(ctx, Mapping)
    message = str(item.get("msg", "This value is not accepted."))
    if kind == "missing":
        return "Please fill this in."
    if kind == "string_too_short":
        return "Please fill this in." if ctx.get("min_length", 1) <= 1 else message
    if kind == "string_too_long":
        return f"Too long: at most {ctx.get('max_length', '?')} characters."
    if kind in ("literal_error", "enum"):
        return "Choose one of the options in the list."
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "Enter a whole number."
    if kind in ("greater_than_equal", "greater_than"):
        return f"Enter a number of at least {ctx.get('ge', ctx.get('gt', ''))}."
    if kind in ("less_than_equal", "less_than"):
        return f"Enter a number of at most {ctx.get('le', ctx.get('lt', ''))}."
    if kind.startswith("url"):
        return "Enter a full URL starting with https://"
    return _sentence(message.removeprefix("Value error, ").removeprefix("Assertion failed, "))


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "This value is not accepted."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[your key]")
    return re.sub(r"sk-[A-Za-z0-9_\-]{8,}", "[a key]", text)
