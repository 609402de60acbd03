"""``/v1/pool``: the warm pool's admin view and the Hetzner pool servers' identity enrollment.

- ``GET /v1/pool`` (admin): ``pool_status()`` of this process — per driver and size class the
  target size, slots ready / preparing / assigning / failed, the template (qemu) and memory
  budget, the server type and cost per hour (Hetzner). The pool lives in the process that runs the
  workers, so this is the view of the process that answers (``bureau serve`` by default).
- ``POST /v1/pool/enroll`` (a pool server's single-use pool token): CSR → certificate
  ``pool-<slot id>`` from the desk CA (orchestrator/pool/identity.py). 404 when this process runs
  no Hetzner pool (the pool server retries: behind a load balancer it may reach another replica).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from orchestrator.api.deps import AdminUser
from orchestrator.pki import CsrError
from orchestrator.pool import hcloud_pool, pool_status
from orchestrator.pool.identity import POOL_IDENTITY_PROTOCOL, PoolEnrollRequest

router = APIRouter(prefix="/v1/pool", tags=["pool"])


@router.get("")
async def get_pool(_admin: AdminUser) -> dict[str, Any]:
    """The warm pools of this control-plane process (admin only)."""
    return pool_status()


@router.post("/enroll")
async def post_pool_enroll(body: PoolEnrollRequest) -> Response:
    """A Hetzner pool server's pool token + CSR -> its ``pool-<slot>`` certificate, once."""
    from orchestrator.pool.hcloud import PoolEnrollError

    if body.pool_protocol != POOL_IDENTITY_PROTOCOL:
        raise HTTPException(426, f"pool identity protocol {body.pool_protocol} unsupported")
    pool = hcloud_pool()
    if pool is None:  # 404, not 5xx: nothing is broken (a pool server retries: another replica)
        raise HTTPException(404, "this control plane process runs no Hetzner pool")
    try:
        answer = await run_in_threadpool(pool.enroll_identity, body)
    except PoolEnrollError as exc:
        raise HTTPException(exc.status, exc.message) from None
    except CsrError as exc:
        raise HTTPException(422, str(exc)) from None
    return Response(answer.model_dump_json(), media_type="application/json")
