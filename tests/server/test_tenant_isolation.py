"""Every endpoint, tried with another clinic's token, gets nothing of this clinic and changes nothing."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.server.models import Device, SyncRow
from tests.server.conftest import Cloud, Workstation


def _clinic_rows(db: Session, clinic_id: str) -> list[tuple[str, int, dict]]:  # type: ignore[type-arg]
    db.expire_all()
    rows = db.scalars(select(SyncRow).where(SyncRow.clinic_id == clinic_id).order_by(SyncRow.row_id))
    return [(r.row_id, r.version, r.data) for r in rows]


def _two_clinics(cloud: Cloud) -> tuple[Workstation, Workstation, Workstation]:
    a_desk = cloud.enrol(cloud.clinic("Clinic A"), "A front desk")
    a_surgery = cloud.enrol(a_desk.clinic_id, "A surgery")
    b_desk = cloud.enrol(cloud.clinic("Clinic B"), "B front desk")
    response = a_desk.push_changes(
        {"patient": {"created": [{"id": "a-p1", "version": 1, "last_name": "Aardvark"}]}}, push_id="shared-push-id"
    )
    assert response.status_code == 200
    return a_desk, a_surgery, b_desk


def test_a_pull_with_another_clinics_token_returns_none_of_its_rows(cloud: Cloud) -> None:
    _a_desk, _a_surgery, b_desk = _two_clinics(cloud)

    pulled = b_desk.pull(0)

    assert pulled.changes == {}
    assert pulled.cursor == 0  # clinic B's own sequence, which says nothing of clinic A's activity


def test_a_push_with_another_clinics_row_ids_cannot_overwrite_its_rows(cloud: Cloud, db: Session) -> None:
    a_desk, a_surgery, b_desk = _two_clinics(cloud)
    before = _clinic_rows(db, a_desk.clinic_id)

    hostile = b_desk.push_changes(
        {"patient": {"updated": [{"id": "a-p1", "version": 99, "last_name": "Overwritten"}], "deleted": ["a-p1"]}},
        push_id="shared-push-id",  # clinic A's push id: B gets no replay of A's reply
    )

    assert hostile.status_code == 200
    assert _clinic_rows(db, a_desk.clinic_id) == before
    assert a_surgery.pull(0).changes["patient"].created[0]["last_name"] == "Aardvark"
    # what B pushed landed in B's own space, invisible to A
    assert [row_id for row_id, _v, _d in _clinic_rows(db, b_desk.clinic_id)] == ["a-p1"]
    assert a_desk.pull(0).changes == {}


def test_the_device_list_shows_only_the_callers_clinic(cloud: Cloud) -> None:
    _a_desk, _a_surgery, b_desk = _two_clinics(cloud)

    listing = cloud.client.get("/v1/devices", headers=b_desk.headers)

    assert [d["name"] for d in listing.json()] == ["B front desk"]


def test_revoking_another_clinics_device_is_not_found_and_it_keeps_working(cloud: Cloud, db: Session) -> None:
    a_desk, a_surgery, b_desk = _two_clinics(cloud)

    refused = cloud.client.post(f"/v1/devices/{a_surgery.device_id}/revoke", headers=b_desk.headers)

    assert refused.status_code == 404
    db.expire_all()
    assert db.get(Device, a_surgery.device_id).revoked_at is None  # type: ignore[union-attr]
    assert a_surgery.pull(0).changes["patient"].created[0]["id"] == "a-p1"


def test_an_enrolment_code_enrols_into_its_own_clinic_only(cloud: Cloud) -> None:
    a_desk, _a_surgery, b_desk = _two_clinics(cloud)
    code = cloud.code(b_desk.clinic_id)

    enrolled = cloud.client.post("/v1/enrol", json={"code": code, "device_name": "Laptop"}).json()

    assert enrolled["clinic_id"] == b_desk.clinic_id != a_desk.clinic_id
    assert enrolled["clinic_name"] == "Clinic B"
