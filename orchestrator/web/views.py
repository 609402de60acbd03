"""Desk JSON from the API, shaped for templates (tolerant of optional fields)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.web.providers import BY_NAME

TERMINAL_STATES = frozenset({"ready", "stopped", "failed", "deleted", "awaiting_key"})
BADGE_TONE = {
    "ready": "ok",
    "failed": "bad",
    "deleted": "off",
    "stopped": "off",
    "awaiting_key": "warn",
}


@dataclass(frozen=True)
class DeskView:
    id: str
    name: str
    state: str
    reason: str
    provider: str
    provider_label: str
    model: str
    key_hint: str
    created_at: str
    longer_context_model: str
    max_tool_calls: str
    console_excerpt: str
    endpoint: str
    size: str
    embeddings_provider: str
    embeddings_model: str
    embeddings_endpoint: str

    @property
    def tone(self) -> str:
        return badge_tone(self.state)

    @property
    def live(self) -> bool:
        return self.state not in TERMINAL_STATES

    @property
    def actions(self) -> tuple[str, ...]:
        """The power actions that make sense in the desk's state."""
        if self.state in ("stopped", "failed"):
            return ("start",)
        if self.state in ("ready", "awaiting_key"):
            return ("stop", "restart")
        if self.state in ("booting", "enrolling", "starting", "provisioning"):
            return ("stop",)
        return ()

    @property
    def state_label(self) -> str:
        return self.state.replace("_", " ")


def badge_tone(state: str) -> str:
    return BADGE_TONE.get(state, "busy")


def desk_view(data: dict[str, Any]) -> DeskView:
    def text(*names: str) -> str:
        for name in names:
            value = data.get(name)
            if value not in (None, ""):
                return str(value)
        return ""

    provider = text("provider")
    info = BY_NAME.get(provider)
    return DeskView(
        id=text("id"),
        name=text("name"),
        state=text("state") or "pending",
        reason=text("reason", "failure_reason"),
        provider=provider,
        provider_label=info.label if info else provider,
        model=text("model"),
        key_hint=text("key_hint", "api_key_hint"),
        created_at=text("created_at", "created"),
        longer_context_model=text("longer_context_model"),
        max_tool_calls=text("max_tool_calls"),
        console_excerpt=text("console_excerpt", "console"),
        endpoint=text("endpoint"),
        size=text("size"),
        embeddings_provider=text("embeddings_provider"),
        embeddings_model=text("embeddings_model"),
        embeddings_endpoint=text("embeddings_endpoint"),
    )


def desks_of(payload: Any) -> list[DeskView]:
    """The desks in a ``GET /v1/desks`` page (``{"data": [...]}`` or a bare list)."""
    items = payload.get("data", payload.get("items", [])) if isinstance(payload, dict) else payload
    return [desk_view(item) for item in items or [] if isinstance(item, dict)]
