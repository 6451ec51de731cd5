"""Liveness and readiness for load balancers."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sync.protocol import SCHEMA_VERSION

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    client_schema: str


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(request: Request) -> JSONResponse:
    """Up, with the database reachable (503 otherwise); no secrets and no tenant data.

    Asked over the event loop's own connection, as the no-change poll is (api.deps.nothing_new):
    load balancers ask often, and `chairside bench` takes this as the floor of a request.
    """
    try:
        with request.app.state.poller() as session:
            session.execute(text("SELECT 1"))
    except DBAPIError:
        down = Health(status="unavailable", database="unreachable", client_schema=SCHEMA_VERSION)
        return JSONResponse(down.model_dump(), status_code=503)
    return JSONResponse(Health(status="ok", database="ok", client_schema=SCHEMA_VERSION).model_dump())
