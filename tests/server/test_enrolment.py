"""Enrolment: a one-time, expiring code buys one workstation a revocable token."""

import hashlib
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.server.app import create_app
from sync.server.config import Settings
from sync.server.models import Device, EnrolCode, utcnow
from sync.server.services import clinics
from tests.server.conftest import Cloud, TestClient


def test_a_code_enrols_one_workstation_and_then_is_spent(cloud: Cloud, db: Session) -> None:
    clinic_id = cloud.clinic("Riverside Dental")
    code = cloud.code(clinic_id)

    first = cloud.client.post("/v1/enrol", json={"code": code, "device_name": "Front desk"})
    again = cloud.client.post("/v1/enrol", json={"code": code, "device_name": "Surgery 2"})

    assert first.status_code == 200
    body = first.json()
    assert body["clinic_id"] == clinic_id
    assert body["clinic_name"] == "Riverside Dental"
    assert again.status_code == 403
    assert "already used" in again.json()["detail"]
    devices = db.scalars(select(Device).where(Device.clinic_id == clinic_id)).all()
    assert [d.name for d in devices] == ["Front desk"]
    # the server keeps hashes only: neither the code nor the token is stored
    assert devices[0].token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert db.get(EnrolCode, clinics.code_hash(code)) is not None
    assert all(code not in (row.code_hash, row.device_id) for row in db.scalars(select(EnrolCode)))


def test_a_code_is_read_forgivingly_in_lower_case_without_dashes(cloud: Cloud) -> None:
    code = cloud.code(cloud.clinic())

    response = cloud.client.post("/v1/enrol", json={"code": code.replace("-", " ").lower(), "device_name": "Desk"})

    assert response.status_code == 200


def test_an_expired_code_is_refused(cloud: Cloud, db: Session) -> None:
    clinic_id = cloud.clinic()
    code = clinics.create_enrol_code(db, clinic_id, hours=1, now=utcnow() - timedelta(hours=2))

    response = cloud.client.post("/v1/enrol", json={"code": code, "device_name": "Desk"})

    assert response.status_code == 403
    assert "expired" in response.json()["detail"]
    assert db.scalars(select(Device).where(Device.clinic_id == clinic_id)).all() == []


def test_a_wrong_code_is_refused(cloud: Cloud) -> None:
    cloud.code(cloud.clinic())

    response = cloud.client.post("/v1/enrol", json={"code": "AAAA-BBBB-CCCC", "device_name": "Desk"})

    assert response.status_code == 403
    assert "not valid" in response.json()["detail"]


def test_too_many_attempts_from_one_address_are_refused_with_429(settings: Settings, cloud: Cloud) -> None:
    code = cloud.code(cloud.clinic())
    app = create_app(settings.model_copy(update={"enrol_rate_per_minute": 3}))
    with TestClient(app) as client:
        guesses = [client.post("/v1/enrol", json={"code": f"AAAA-BBBB-000{i}", "device_name": "x"}) for i in range(3)]
        blocked = client.post("/v1/enrol", json={"code": code, "device_name": "Desk"})
    app.state.engine.dispose()

    assert [g.status_code for g in guesses] == [403, 403, 403]
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert "Too many enrolment attempts" in blocked.json()["detail"]
