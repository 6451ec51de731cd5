"""The cloud service on real PostgreSQL: a fresh database per test module, dropped afterwards.

The server is CHAIRSIDE_TEST_DATABASE_URL (or TEST_DATABASE_URL), by default
postgresql+psycopg://postgres@127.0.0.1:5432/test with trust authentication. If it cannot
be reached the tests fail with a message saying so: they never skip.
"""

import os
import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from sync.protocol import (
    SCHEMA_HEADER,
    SCHEMA_VERSION,
    AuditPush,
    AuditPushed,
    PullResponse,
    PushRequest,
    PushResponse,
)
from sync.server import migrate
from sync.server.app import create_app
from sync.server.config import Settings
from sync.server.db import make_engine
from sync.server.services import clinics

with warnings.catch_warnings():
    # starlette asks for the `httpx2` fork; plain httpx still works and is what we ship
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _server_url() -> str:
    url = os.environ.get("CHAIRSIDE_TEST_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    return Settings(database_url=url or DEFAULT_TEST_DATABASE_URL).database_url


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The test server's URL, checked once; unreachable is a failure with the reason, not a skip."""
    url = _server_url()
    engine = create_engine(url)
    problem = None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        problem = str(exc.orig)
    finally:
        engine.dispose()
    if problem is not None:
        pytest.fail(
            f"The cloud-service tests need PostgreSQL at {make_url(url).render_as_string(hide_password=True)} "
            f"(set CHAIRSIDE_TEST_DATABASE_URL to another server). Connecting failed: {problem}",
            pytrace=False,
        )
    return url


@pytest.fixture(scope="module")
def fresh_database_url(postgres_admin_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database for this test module; dropped (connections and all) afterwards."""
    module = re.sub(r"[^a-z0-9]", "_", request.module.__name__.rsplit(".", 1)[-1].lower())[:30]
    name = f"chairside_cloud_{module}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="module")
def database_url(fresh_database_url: str) -> str:
    """This module's database with the cloud schema migrated to head."""
    engine = make_engine(fresh_database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return fresh_database_url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    """A session on the module's database, for arranging and checking what the API did."""
    engine = make_engine(database_url)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client
    app.state.engine.dispose()


@dataclass
class Workstation:
    """An enrolled workstation talking to the service over HTTP (it implements `SyncApi`)."""

    client: TestClient
    token: str
    device_id: str
    clinic_id: str
    schema: str = SCHEMA_VERSION

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", SCHEMA_HEADER: self.schema}

    def pull(self, cursor: int, limit: int | None = None) -> PullResponse:
        params: dict[str, Any] = {"cursor": cursor} | ({"limit": limit} if limit else {})
        response = self.client.get("/v1/sync/pull", params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        return PullResponse.model_validate(response.json())

    def push(self, request: PushRequest) -> PushResponse:
        response = self.client.post("/v1/sync/push", json=request.model_dump(mode="json"), headers=self.headers)
        assert response.status_code == 200, response.text
        return PushResponse.model_validate(response.json())

    def push_audit(self, request: AuditPush) -> AuditPushed:
        response = self.client.post("/v1/audit/events", json=request.model_dump(mode="json"), headers=self.headers)
        assert response.status_code == 200, response.text
        return AuditPushed.model_validate(response.json())

    def push_changes(self, changes: dict[str, Any], last_pulled_cursor: int = 0, push_id: str | None = None) -> Any:
        body = {"push_id": push_id or uuid.uuid4().hex, "last_pulled_cursor": last_pulled_cursor, "changes": changes}
        return self.client.post("/v1/sync/push", json=body, headers=self.headers)


class Cloud:
    """Arranges clinics and enrolled workstations on the service under test."""

    def __init__(self, client: TestClient, db: Session) -> None:
        self.client = client
        self.db = db

    def clinic(self, name: str = "Test Dental") -> str:
        return clinics.create_clinic(self.db, name).id

    def code(self, clinic_id: str, hours: float = 24) -> str:
        return clinics.create_enrol_code(self.db, clinic_id, hours=hours)

    def enrol(self, clinic_id: str, device_name: str = "Front desk") -> Workstation:
        response = self.client.post("/v1/enrol", json={"code": self.code(clinic_id), "device_name": device_name})
        assert response.status_code == 200, response.text
        body = response.json()
        return Workstation(self.client, body["token"], body["device_id"], body["clinic_id"])


@pytest.fixture
def cloud(client: TestClient, db: Session) -> Cloud:
    return Cloud(client, db)
