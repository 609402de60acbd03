"""``PUT /v1/desks/{id}/provider``: re-supply a lost key or rotate it, from memory only.

- Before enrollment (pending, provisioning, booting) and after a failure: the escrow entry is
  replaced; the agent receives the key when it enrolls.
- Enrolling, ready, awaiting_key: the key is pushed now to the agent over mutual TLS
  (``PUT /desk/v1/provider``); ``awaiting_key`` becomes ``ready`` on success.
- Stopping, stopped, starting, deleting: 409 (start the desk first).
"""

from __future__ import annotations

import asyncio

from orchestrator.agent_client import AgentUnreachable
from orchestrator.desks import DeskConflict, Desks, escrow_secrets
from orchestrator.lifecycle import progress, transition
from orchestrator.models import Desk, DeskState, ProviderUpdateIn, User, utcnow
from orchestrator.protocol import EmbeddingsCredentials, ProviderCredentials, ProviderUpdate
from orchestrator.runtime import Runtime
from orchestrator.validation import ResolvedProvider, check_provider_update, key_hint

S = DeskState
ESCROW_STATES = (S.PENDING.value, S.PROVISIONING.value, S.BOOTING.value, S.FAILED.value)
PUSH_STATES = (S.ENROLLING.value, S.READY.value, S.AWAITING_KEY.value)


class AgentPushFailed(Exception):
    """The agent could not take the key now (HTTP 502); nothing was kept."""


def _apply(desk: Desk, resolved: ResolvedProvider, body: ProviderUpdateIn) -> None:
    desk.provider = resolved.provider
    desk.model = resolved.model
    desk.endpoint = resolved.endpoint
    desk.key_hint = key_hint(resolved.provider, body.api_key.get_secret_value())
    if body.embeddings is not None:
        emb = body.embeddings
        desk.embeddings_provider = emb.provider
        desk.embeddings_model = emb.model
        desk.embeddings_endpoint = emb.endpoint
        desk.embeddings_key_hint = key_hint(emb.provider, emb.api_key.get_secret_value())
    desk.updated_at = utcnow()


def _update(desk: Desk, body: ProviderUpdateIn) -> ProviderUpdate:
    embeddings = None
    if body.embeddings is not None:
        emb = body.embeddings
        embeddings = EmbeddingsCredentials(
            provider=emb.provider,  # type: ignore[arg-type]
            api_key=emb.api_key,
            model=emb.model,
            endpoint=emb.endpoint,
        )
    return ProviderUpdate(
        provider=ProviderCredentials(
            provider=desk.provider,  # type: ignore[arg-type]
            api_key=body.api_key,
            model=desk.model,
            endpoint=desk.endpoint,
            longer_context_model=desk.longer_context_model,
            max_tool_calls=desk.max_tool_calls,
        ),
        embeddings=embeddings,
    )


def resolve(rt: Runtime, desks: Desks, desk_id: str, body: ProviderUpdateIn) -> ResolvedProvider:
    """Owner check and validation (422 on bad input) before anything else happens."""
    desk = desks.get(desk_id, owner_only=True)
    current = ResolvedProvider(desk.provider, desk.model, desk.endpoint)
    return check_provider_update(body, current, allow_http=rt.settings.allow_http_endpoints)


async def supply_key(
    rt: Runtime, actor: User, desk_id: str, body: ProviderUpdateIn, resolved: ResolvedProvider
) -> Desk:
    """Escrow or push the key according to the desk's state; returns the updated desk."""
    desk, push = await asyncio.to_thread(_escrow_or_prepare, rt, actor, desk_id, body, resolved)
    if push is None:
        rt.notifier.notify()
        return desk
    agent_url, update = push
    try:
        health = await rt.agents.push_provider(desk_id, agent_url, update)
    except AgentUnreachable as exc:
        raise AgentPushFailed(f"the desk's agent did not take the key: {exc}") from None
    fresh = await asyncio.to_thread(_record_push, rt, desk_id, body, resolved, health.status)
    rt.notifier.notify()
    return fresh


def _escrow_or_prepare(
    rt: Runtime, actor: User, desk_id: str, body: ProviderUpdateIn, resolved: ResolvedProvider
) -> tuple[Desk, tuple[str, ProviderUpdate] | None]:
    with rt.db.session() as session:
        desks = Desks(session, actor, rt.escrow, rt.driver.name)
        desk = desks.get(desk_id, owner_only=True)
        state = desk.state
        if state in ESCROW_STATES:
            _apply(desk, resolved, body)
            rt.escrow.put(desk.id, escrow_secrets(body.api_key.get_secret_value(), body.embeddings))
            progress(session, desk, "new key held until the agent enrolls")
            session.add(desk)
            session.commit()
            return desk, None
        if state not in PUSH_STATES or not desk.agent_url:
            raise DeskConflict(f"cannot change the key of a desk that is {state}", state)
        agent_url = desk.agent_url
        _apply(desk, resolved, body)
        update = _update(desk, body)
        session.expunge(desk)
        return desk, (agent_url, update)


def _record_push(
    rt: Runtime, desk_id: str, body: ProviderUpdateIn, resolved: ResolvedProvider, status: str
) -> Desk:
    with rt.db.session() as session:
        fresh = session.get(Desk, desk_id)
        if fresh is None:
            raise DeskConflict("the desk disappeared", None)
        _apply(fresh, resolved, body)
        progress(session, fresh, f"key updated on the agent ({fresh.key_hint})")
        if fresh.state == S.AWAITING_KEY.value and status == "ok":
            transition(session, fresh, S.READY, "the agent has its key")
        session.add(fresh)
        session.commit()
        return fresh
