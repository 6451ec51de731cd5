"""Pull and push (WatermelonDB's shape); every call carries the client's schema header."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from sync.protocol import PullResponse, PushRequest, PushResponse
from sync.server.api.deps import ClientSchema, DeviceToken, nothing_new, run_for_clinic
from sync.server.services.sync import ClinicSync

router = APIRouter(prefix="/v1/sync", tags=["sync"])

_SCHEMA_REFUSED: dict[int | str, dict[str, Any]] = {
    426: {"description": "The workstation's schema differs from the service's: upgrade Chairside"}
}


def _json(answer: BaseModel) -> Response:
    # serialised in the worker thread, once (a page can be megabytes)
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get("/pull", response_model=PullResponse, responses=_SCHEMA_REFUSED)
async def pull(
    request: Request,
    token: DeviceToken,
    _schema: ClientSchema,
    cursor: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Changes since `cursor` as {table: {created, updated, deleted}}; pull again while has_more."""
    if nothing_new(request, token, cursor):
        return _json(ClinicSync.no_change(cursor))
    # the head is read before the rows (ClinicSync.pull), so no transaction is needed around them
    return await run_for_clinic(request, token, lambda sync: _json(sync.pull(cursor, limit)), reads_only=True)


@router.post(
    "/push",
    response_model=PushResponse,
    responses={**_SCHEMA_REFUSED, 409: {"description": "push_id reused for other changes"}},
)
async def push(request: Request, body: PushRequest, token: DeviceToken, _schema: ClientSchema) -> Response:
    """Apply local changes in one transaction; resending the same push_id changes nothing."""
    return await run_for_clinic(request, token, lambda sync: _json(sync.push(body)))
