"""``/v1/agent/*``: what desk VMs call before they have a certificate (enrollment, the wheel)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from orchestrator.api.deps import RuntimeDep
from orchestrator.api.ratelimit import per_address
from orchestrator.enrollment import enroll
from orchestrator.protocol import EnrollRequest, EnrollResponse

router = APIRouter(prefix="/v1/agent", tags=["agent"])


@router.post(
    "/enroll",
    response_model=EnrollResponse,
    dependencies=[Depends(per_address("enroll", "enrollment attempts"))],
)
async def post_enroll(body: EnrollRequest, rt: RuntimeDep) -> Response:
    """Bootstrap token + CSR -> the agent's certificate, the desk CA and the key(s), once.

    The response is built from ``EnrollResponse.model_dump_json`` so the keys, which are
    ``SecretStr`` in memory, appear in clear in this one TLS body.
    """
    answer = await run_in_threadpool(enroll, rt, body)
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get("/dist/{filename}")
def get_dist(filename: str, rt: RuntimeDep) -> FileResponse:
    path = rt.dist.path_of(filename)
    if path is None:
        raise HTTPException(404, f"no such file in the agent distribution: {filename[:100]}")
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)
