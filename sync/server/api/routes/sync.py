"""Pull and push (WatermelonDB's shape); every call carries the client's schema header."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from sync.protocol import PullResponse, PushRequest, PushResponse
from sync.server.api.deps import ClinicSyncDep

router = APIRouter(prefix="/v1/sync", tags=["sync"])

_SCHEMA_REFUSED: dict[int | str, dict[str, Any]] = {
    426: {"description": "The workstation's schema differs from the service's: upgrade Chairside"}
}


@router.get("/pull", responses=_SCHEMA_REFUSED)
def pull(
    sync: ClinicSyncDep,
    cursor: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> PullResponse:
    """Changes since `cursor` as {table: {created, updated, deleted}}; pull again while has_more."""
    return sync.pull(cursor, limit)


@router.post("/push", responses={**_SCHEMA_REFUSED, 409: {"description": "push_id reused for other changes"}})
def push(body: PushRequest, sync: ClinicSyncDep) -> PushResponse:
    """Apply local changes in one transaction; resending the same push_id changes nothing."""
    return sync.push(body)
