"""Liveness and readiness for load balancers."""

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from sync.protocol import SCHEMA_VERSION
from sync.server.api.deps import SessionDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    client_schema: str


@router.get("/health")
def health(session: SessionDep) -> Health:
    """Up, with the database reachable; no secrets and no tenant data."""
    session.execute(text("SELECT 1"))
    return Health(status="ok", database="ok", client_schema=SCHEMA_VERSION)
