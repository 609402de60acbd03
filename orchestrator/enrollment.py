"""``POST /v1/agent/enroll``: bootstrap token + CSR -> agent certificate + the escrowed key(s).

The token is checked (hash, desk, unused, unexpired), the CSR signed, then the token is burnt with
a conditional UPDATE so two concurrent enrollments cannot both succeed. The escrow is emptied for
the desk: the keys exist once in the response and nowhere else afterwards.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select

from orchestrator.jobs import queue
from orchestrator.lifecycle import transition
from orchestrator.models import BootstrapToken, Desk, DeskState, utcnow
from orchestrator.pki import CsrError
from orchestrator.protocol import (
    PROTOCOL_VERSION,
    EmbeddingsCredentials,
    EnrollRequest,
    EnrollResponse,
    ProviderCredentials,
)
from orchestrator.runtime import Runtime
from orchestrator.security import hash_token

S = DeskState
ENROLLABLE = (S.PROVISIONING.value, S.BOOTING.value)


class EnrollError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _credentials(
    desk: Desk, secrets: dict[str, str] | None
) -> tuple[ProviderCredentials | None, EmbeddingsCredentials | None]:
    if not secrets or "provider" not in secrets:
        return None, None
    provider = ProviderCredentials(
        provider=desk.provider,  # type: ignore[arg-type]
        api_key=secrets["provider"],  # type: ignore[arg-type]
        model=desk.model,
        endpoint=desk.endpoint,
        longer_context_model=desk.longer_context_model,
        max_tool_calls=desk.max_tool_calls,
    )
    embeddings = None
    if "embeddings" in secrets and desk.embeddings_provider and desk.embeddings_model:
        embeddings = EmbeddingsCredentials(
            provider=desk.embeddings_provider,  # type: ignore[arg-type]
            api_key=secrets["embeddings"],  # type: ignore[arg-type]
            model=desk.embeddings_model,
            endpoint=desk.embeddings_endpoint,
        )
    return provider, embeddings


def enroll(rt: Runtime, request: EnrollRequest) -> EnrollResponse:
    if request.protocol_version != PROTOCOL_VERSION:
        raise EnrollError(
            426,
            f"agent speaks protocol {request.protocol_version}, "
            f"this control plane speaks {PROTOCOL_VERSION}",
        )
    token_hash = hash_token(request.bootstrap_token.get_secret_value())
    now = utcnow()
    with rt.db.session() as session:
        token = session.exec(
            select(BootstrapToken).where(BootstrapToken.token_hash == token_hash)
        ).first()
        if (
            token is None
            or token.desk_id != request.desk_id
            or token.used_at is not None
            or token.expires_at <= now
        ):
            raise EnrollError(401, "the bootstrap token is invalid, used or expired")
        desk = session.get(Desk, request.desk_id)
        if desk is None or desk.state not in ENROLLABLE:
            state = desk.state if desk else "missing"
            raise EnrollError(409, f"the desk cannot enroll now: it is {state}")
        try:
            certificate = rt.pki.sign_agent_csr(request.csr_pem, desk.id)
        except CsrError as exc:
            raise EnrollError(422, str(exc)) from None
        burnt = session.execute(
            update(BootstrapToken)
            .where(col(BootstrapToken.id) == token.id, col(BootstrapToken.used_at).is_(None))
            .values(used_at=now)
        )
        if not burnt.rowcount:  # type: ignore[attr-defined]
            session.rollback()
            raise EnrollError(401, "the bootstrap token is invalid, used or expired")
        provider, embeddings = _credentials(desk, rt.escrow.take(desk.id))
        if desk.state == S.PROVISIONING.value:
            transition(session, desk, S.BOOTING, "the machine is up")
        desk.details = {
            **desk.details,
            "enrolled_at": now.isoformat(),
            "agent_version": request.agent_version[:64],
        }
        if provider is not None:
            transition(session, desk, S.ENROLLING, "the agent enrolled and received the key")
            queue.enqueue(session, "verify", desk.id)
        else:
            transition(
                session,
                desk,
                S.AWAITING_KEY,
                "the agent enrolled, but the control plane no longer holds the key: "
                "supply it again with PUT /v1/desks/{id}/provider",
            )
        session.commit()
    rt.notifier.notify()
    return EnrollResponse(
        desk_id=desk.id,
        certificate_pem=certificate,
        ca_pem=rt.pki.desk_ca_pem,
        provider=provider,
        embeddings=embeddings,
    )
