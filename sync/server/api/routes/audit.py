"""Workstations send their audit events here; the cloud keeps them append-only."""

from typing import Any

from fastapi import APIRouter, Request, Response

from sync.protocol import AuditPush, AuditPushed
from sync.server.api.deps import ClientSchema, DeviceToken, run_for_clinic

router = APIRouter(prefix="/v1/audit", tags=["audit"])

_REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {"description": "An event follows one the cloud does not hold: send the chain from its start"},
    422: {"description": "An event does not match its hash or differs from the copy held: nothing stored"},
    426: {"description": "The workstation's schema differs from the service's: upgrade Chairside"},
}


@router.post("/events", response_model=AuditPushed, responses=_REFUSALS)
async def push_events(request: Request, body: AuditPush, token: DeviceToken, _schema: ClientSchema) -> Response:
    """Append events of the workstation's hash chain, oldest first; events held already are skipped."""
    answer = await run_for_clinic(request, token, lambda sync: sync.push_audit(body))
    return Response(answer.model_dump_json(), media_type="application/json")
