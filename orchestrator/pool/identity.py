"""The pool identity of a Hetzner pool server: how the resume travels over TLS both sides verify.

A qemu clone is reached through a ``hostfwd`` on the host's 127.0.0.1, so its resume endpoint is
plain HTTP behind a pool token. A Hetzner pool server is reached over the internet, so (decision):

1. Its user-data carries a **single-use pool token** for its slot (random, per server; the
   control plane keeps only its sha256, in memory and in the pool stack's outputs) and the
   control plane's CA (public). No desk, no user, no secret of any user.
2. On boot the unassigned agent makes its own key pair and CSR and calls
   ``POST /v1/pool/enroll`` (TLS pinned to the control plane CA) with the slot id, the pool token
   and the CSR. The control plane burns the token and signs the CSR with the **desk CA** under
   the name ``pool-<slot id>`` (CN, and DNS SAN ``pool-<slot id>.desk.bureau.internal``; EKU
   serverAuth only). Desk ids are ``d`` + hex digits (``models.new_id``) and never contain ``-``,
   so a pool certificate can never pass for a desk's, and the agent proxy never accepts one.
3. The unassigned agent then serves ``/pool/v1/*`` over TLS with that certificate and **requires
   a client certificate** from the desk CA with EKU clientAuth: only the control plane's
   (``pki.client.pem``) qualifies (agents' certificates are serverAuth only).
4. The control plane calls ``/pool/v1/health`` and ``/pool/v1/resume`` with its client
   certificate, trusting the desk CA only, and checks the server name ``pool-<slot id>``: the
   bootstrap token and desk settings reach that server and no other. The Hetzner firewall also
   opens the agent port to the control plane's addresses only
   (``BUREAU_HCLOUD_CONTROL_PLANE_CIDRS``).

The wire shapes are duplicated in ``agent_image/bureau_agent/pool/identity.py``;
``tests/pool/test_hcloud_pool_units.py`` proves both copies have the same schema.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer

from orchestrator.protocol import agent_dns_name

POOL_IDENTITY_PROTOCOL = 1
SLOT_PATTERN = r"^p[a-z0-9]{6,40}$"


def pool_identity_name(slot_id: str) -> str:
    """The CN of a pool server's certificate (never a desk id: desk ids have no '-')."""
    return f"pool-{slot_id}"


def pool_tls_name(slot_id: str) -> str:
    """The TLS server name the control plane checks when it calls a pool server."""
    return agent_dns_name(pool_identity_name(slot_id))


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoolEnrollRequest(_Wire):
    pool_protocol: int = POOL_IDENTITY_PROTOCOL
    slot_id: str = Field(pattern=SLOT_PATTERN)
    pool_token: SecretStr = Field(min_length=32)
    csr_pem: str
    agent_version: str

    @field_serializer("pool_token", when_used="json")
    def _reveal_token(self, value: SecretStr) -> str:
        return value.get_secret_value()


class PoolEnrollResponse(_Wire):
    pool_protocol: int = POOL_IDENTITY_PROTOCOL
    slot_id: str
    certificate_pem: str
    """Signed by the desk CA: CN ``pool-<slot id>``, serverAuth."""
    ca_pem: str
    """The desk CA: it also signed the control plane's client certificate (the pool server
    requires that client certificate on its resume endpoint)."""
