"""Request size limits, and logs that never hold row data or tokens."""

import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.protocol import SCHEMA_VERSION
from sync.server import logs
from sync.server.app import create_app
from sync.server.config import Settings
from sync.server.models import SyncRow
from sync.server.services.sync import ClinicSync
from tests.server.conftest import Cloud, TestClient

PATIENT_NAME = "Philomena Quackenbush"


@pytest.fixture
def small_limit_cloud(settings: Settings, db: Session) -> Iterator[Cloud]:
    app = create_app(settings.model_copy(update={"max_body_bytes": 4096}))
    with TestClient(app) as client:
        yield Cloud(client, db)
    app.state.engine.dispose()


def _big_push(name: str) -> dict[str, object]:
    rows = [{"id": f"p{i}", "version": 1, "notes": "x" * 200, "last_name": name} for i in range(40)]
    return {"push_id": "big-push-01", "last_pulled_cursor": 0, "changes": {"patient": {"created": rows}}}


def test_a_body_over_the_limit_is_refused_with_413_and_nothing_applied(small_limit_cloud: Cloud, db: Session) -> None:
    desk = small_limit_cloud.enrol(small_limit_cloud.clinic())
    body = json.dumps(_big_push("Ames")).encode()

    declared = small_limit_cloud.client.post("/v1/sync/push", content=body, headers=desk.headers)
    streamed = small_limit_cloud.client.post(
        "/v1/sync/push", content=iter([body[:3000], body[3000:]]), headers=desk.headers
    )

    assert len(body) > 4096
    for refused in (declared, streamed):
        assert refused.status_code == 413
        assert "larger than this service accepts" in refused.json()["detail"]
    assert db.scalars(select(SyncRow).where(SyncRow.clinic_id == desk.clinic_id)).all() == []


def test_logs_hold_method_path_status_and_duration_but_no_patient_data_or_tokens(
    cloud: Cloud, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    clinic_id = cloud.clinic()
    desk, surgery = cloud.enrol(clinic_id), cloud.enrol(clinic_id)
    row = {"id": "p1", "version": 1, "first_name": "Philomena", "last_name": "Quackenbush", "full": PATIENT_NAME}
    assert desk.push_changes({"patient": {"created": [row]}}).status_code == 200
    assert surgery.pull(0).changes["patient"].created[0]["full"] == PATIENT_NAME
    # refused and failing requests must not leak what they carried either
    assert desk.push_changes({"patient": {"created": [{"full": PATIENT_NAME}]}}).status_code == 422

    def crash(self: ClinicSync, request: object) -> None:
        raise ValueError(f"cannot store {PATIENT_NAME}")

    monkeypatch.setattr(ClinicSync, "push", crash)
    crashed = desk.push_changes({"patient": {"created": [row]}})

    assert crashed.status_code == 500
    assert PATIENT_NAME not in crashed.text
    formatter = logs.JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    for secret in (PATIENT_NAME, "Quackenbush", "Philomena", desk.token, surgery.token):
        assert not any(secret in line for line in lines), secret
        assert not any(secret in str(record.__dict__) for record in caplog.records), secret
    requests = [json.loads(line) for line in lines if '"event": "request"' in line]
    assert {"method": "POST", "path": "/v1/sync/push", "status": 200} in [
        {k: r[k] for k in ("method", "path", "status")} for r in requests
    ]
    assert all(isinstance(r["duration_ms"], float) for r in requests)
    (error,) = [json.loads(line) for line in lines if '"event": "error"' in line]
    assert error["error_type"] == "ValueError"


def test_health_says_503_when_the_database_cannot_be_reached(settings: Settings) -> None:
    gone = settings.model_copy(update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:9/nowhere"})
    with TestClient(create_app(gone)) as client:
        answer = client.get("/health")
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "database": "unreachable", "client_schema": SCHEMA_VERSION}
