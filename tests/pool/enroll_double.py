"""A minimal control-plane double for pool VM tests: the real PKI, ``POST /v1/agent/enroll`` only.

It signs each clone's CSR with the desk CA (orchestrator.pki), remembers the public key and the
bootstrap token each desk used, and answers ``provider=None`` (the agent then awaits a key).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, HTTPException

from orchestrator.pki import Pki
from orchestrator.protocol import EnrollRequest, EnrollResponse


@dataclass
class Enrollments:
    tokens: dict[str, str] = field(default_factory=dict)
    """desk id -> the bootstrap token it may use once."""
    public_keys: dict[str, bytes] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    """Every bootstrap token handed out (to search template files for them afterwards)."""


def enroll_app(pki: Pki, enrollments: Enrollments) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/agent/enroll")
    async def enroll(request: EnrollRequest) -> EnrollResponse:
        expected = enrollments.tokens.pop(request.desk_id, None)
        if expected is None or expected != request.bootstrap_token.get_secret_value():
            raise HTTPException(401, "bad or used bootstrap token")
        csr = x509.load_pem_x509_csr(request.csr_pem.encode())
        enrollments.public_keys[request.desk_id] = csr.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return EnrollResponse(
            desk_id=request.desk_id,
            certificate_pem=pki.sign_agent_csr(request.csr_pem, request.desk_id),
            ca_pem=pki.desk_ca_pem,
            provider=None,
        )

    return app
