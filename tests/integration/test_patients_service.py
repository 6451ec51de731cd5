"""Registering, editing, finding and archiving patients against a real encrypted clinic."""

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from app.db.models import AuditEvent, ChangeLog, MedicalAlert, Patient, PatientInsurance
from app.domain.errors import ValidationError
from app.domain.patients import AlertInput, InsuranceInput, PatientInput
from app.domain.permissions import Role
from app.services import auth, patients
from app.services.context import Ctx, PermissionDenied
from app.services.patients import PatientNotFound, StaleEdit
from tests.conftest import ADMIN_PASSWORD

ADA = PatientInput(
    first_name="Ada",
    last_name="Lovelace",
    date_of_birth="12/10/1985",  # the test clinic reads dates month first
    mobile_phone="(212) 555-0142",
    email="ada@example.com",
    preferred_contact="sms",
    consent_sms=True,
)


@pytest.fixture
def admin(runtime) -> Ctx:  # type: ignore[no-untyped-def]
    return Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))


def count(runtime, model) -> int:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def change_log(runtime) -> list[ChangeLog]:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        return list(s.scalars(select(ChangeLog).order_by(ChangeLog.seq)))


def test_a_registered_patient_is_saved_cleaned_and_numbered(admin):
    first = patients.register(admin, ADA)
    second = patients.register(admin, PatientInput("Charles", "Babbage", "12/26/1971"))
    assert (first.chart_no, second.chart_no) == ("1001", "1002")
    assert first.version == 1
    record = patients.open_record(admin, first.id)
    assert record.data.date_of_birth.isoformat() == "1985-12-10"
    assert record.data.mobile_phone == "+12125550142"
    assert record.display_name == "Ada Lovelace"


def test_an_invalid_form_saves_nothing_and_lists_every_fault(admin, runtime):
    before = count(runtime, Patient), count(runtime, AuditEvent), count(runtime, ChangeLog)
    with pytest.raises(ValidationError) as e:
        patients.register(admin, replace(ADA, last_name="", date_of_birth="02/30/1990"))
    assert set(e.value.messages()) == {"last_name", "date_of_birth"}
    assert (count(runtime, Patient), count(runtime, AuditEvent), count(runtime, ChangeLog)) == before


def test_an_update_saves_the_changes_and_moves_the_version(admin):
    rec = patients.register(admin, ADA)
    updated = patients.update(admin, rec.id, rec.version, replace(ADA, last_name="King", city="London"))
    assert updated.version == 2
    assert (updated.data.last_name, updated.data.city) == ("King", "London")
    assert patients.open_record(admin, rec.id).data.last_name == "King"


def test_search_follows_registrations_and_edits(admin):
    assert patients.search(admin, "lovelace") == []
    rec = patients.register(admin, ADA)
    assert [p.id for p in patients.search(admin, "lovelace")] == [rec.id]
    assert [p.id for p in patients.search(admin, "lovelcae")] == [rec.id]
    assert [p.id for p in patients.search(admin, "0142")] == [rec.id]
    assert [p.id for p in patients.search(admin, "12/10/1985")] == [rec.id]
    assert [p.id for p in patients.search(admin, "1001")] == [rec.id]
    patients.update(admin, rec.id, rec.version, replace(ADA, last_name="King"))
    assert patients.search(admin, "lovelace") == []
    found = patients.search(admin, "ada king")
    assert [(p.id, p.display_name) for p in found] == [(rec.id, "King, Ada")]


def test_archived_patients_leave_daily_search_and_come_back_when_unarchived(admin):
    rec = patients.register(admin, ADA)
    archived = patients.set_archived(admin, rec.id, True, "moved away")
    assert archived.archived_at is not None
    assert patients.search(admin, "lovelace") == []
    found = patients.search(admin, "lovelace", include_archived=True)
    assert [(p.id, p.archived) for p in found] == [(rec.id, True)]
    # everything is kept
    assert patients.open_record(admin, rec.id).data.email == "ada@example.com"
    assert patients.set_archived(admin, rec.id, False).archived_at is None
    assert [p.id for p in patients.search(admin, "lovelace")] == [rec.id]


def test_a_patient_who_does_not_exist_is_reported(admin):
    with pytest.raises(PatientNotFound):
        patients.open_record(admin, "0190a000-0000-7000-8000-00000000dead")


def test_the_second_of_two_overlapping_edits_is_refused_naming_who_changed_it(staff, runtime):
    reception, dentist = staff[Role.RECEPTIONIST], staff[Role.DENTIST]
    rec = patients.register(reception, ADA)
    seen_by_reception = patients.open_record(reception, rec.id)
    seen_by_dentist = patients.open_record(dentist, rec.id)
    assert seen_by_reception.version == seen_by_dentist.version == 1
    patients.update(dentist, rec.id, seen_by_dentist.version, replace(ADA, notes="Nervous patient"))
    before = count(runtime, ChangeLog), count(runtime, AuditEvent)
    with pytest.raises(StaleEdit) as e:
        patients.update(reception, rec.id, seen_by_reception.version, replace(ADA, city="Boston"))
    assert "changed by dentist at" in str(e.value)
    assert "your changes were not saved" in str(e.value)
    assert (count(runtime, ChangeLog), count(runtime, AuditEvent)) == before
    kept = patients.open_record(reception, rec.id)
    assert (kept.data.notes, kept.data.city, kept.version) == ("Nervous patient", "", 2)


def test_a_guarantor_and_their_dependants_see_each_other_as_family(admin):
    parent = patients.register(admin, PatientInput("Grace", "Hopper", "12/09/1960"))
    child = patients.register(admin, PatientInput("Ann", "Hopper", "01/02/1990", guarantor_id=parent.id))
    sibling = patients.register(admin, PatientInput("Bea", "Hopper", "03/04/1992", guarantor_id=parent.id))
    child_view = patients.open_record(admin, child.id)
    assert child_view.guarantor_name == "Grace Hopper"
    assert [(f.id, f.is_guarantor) for f in child_view.family] == [(parent.id, True), (sibling.id, False)]
    parent_view = patients.open_record(admin, parent.id)
    assert parent_view.guarantor_name == ""
    assert [f.name for f in parent_view.family] == ["Ann Hopper", "Bea Hopper"]


def test_a_patient_cannot_be_their_own_guarantor(admin):
    rec = patients.register(admin, ADA)
    with pytest.raises(ValidationError) as e:
        patients.update(admin, rec.id, rec.version, replace(ADA, guarantor_id=rec.id))
    assert e.value.messages() == {"guarantor_id": "A patient cannot be their own guarantor; leave it empty."}
    assert patients.open_record(admin, rec.id).data.guarantor_id is None


def test_a_guarantor_who_does_not_exist_is_refused(admin, runtime):
    with pytest.raises(ValidationError, match="guarantor no longer exists"):
        patients.register(admin, replace(ADA, guarantor_id="0190a000-0000-7000-8000-00000000dead"))
    assert count(runtime, Patient) == 0


def test_a_chart_number_already_in_use_is_refused(admin, runtime):
    ada = patients.register(admin, replace(ADA, chart_no="A-7"))
    with pytest.raises(ValidationError) as e:
        patients.register(admin, PatientInput("Charles", "Babbage", "12/26/1971", chart_no="A-7"))
    assert e.value.messages() == {"chart_no": "Chart number A-7 belongs to another patient."}
    assert count(runtime, Patient) == 1
    charles = patients.register(admin, PatientInput("Charles", "Babbage", "12/26/1971", chart_no="B-1"))
    with pytest.raises(ValidationError, match="belongs to another patient"):
        patients.update(admin, charles.id, charles.version, replace(ADA, chart_no="A-7"))
    # keeping one's own number is fine
    patients.update(admin, ada.id, ada.version, replace(ADA, chart_no="A-7", city="Boston"))


def test_removing_an_insurance_plan_tombstones_it_and_keeps_the_row(admin, runtime):
    plans = (InsuranceInput("Aetna", "A1"), InsuranceInput("Delta Dental", "D2"))
    rec = patients.register(admin, replace(ADA, insurance=plans))
    updated = patients.update(admin, rec.id, rec.version, replace(ADA, insurance=plans[:1]))
    assert [(p.carrier, p.priority) for p in updated.data.insurance] == [("Aetna", 1)]
    assert updated.version == 2
    with runtime.sessions() as s:
        rows = {r.carrier: r for r in s.scalars(select(PatientInsurance))}
    assert set(rows) == {"Aetna", "Delta Dental"}
    assert rows["Aetna"].deleted_at is None
    assert rows["Delta Dental"].deleted_at is not None
    assert rows["Delta Dental"].member_id == "D2"
    tomb = [c for c in change_log(runtime) if c.row_id == rows["Delta Dental"].id]
    assert [c.operation for c in tomb] == ["insert", "delete"]


def test_removing_a_medical_alert_tombstones_it(staff, runtime):
    dentist = staff[Role.DENTIST]
    alerts = (AlertInput("allergy", "Penicillin", severe=True), AlertInput("condition", "Diabetes"))
    rec = patients.register(dentist, replace(ADA, alerts=alerts))
    assert patients.search(dentist, "lovelace")[0].has_alerts
    updated = patients.update(dentist, rec.id, rec.version, replace(ADA, alerts=alerts[1:]))
    assert [a.description for a in updated.data.alerts] == ["Diabetes"]
    with runtime.sessions() as s:
        rows = {a.description: a.deleted_at for a in s.scalars(select(MedicalAlert))}
    assert rows["Diabetes"] is None and rows["Penicillin"] is not None


def test_a_receptionist_can_edit_contact_details_of_a_patient_with_medical_alerts(staff):
    dentist, reception = staff[Role.DENTIST], staff[Role.RECEPTIONIST]
    rec = patients.register(dentist, replace(ADA, alerts=(AlertInput("allergy", "Penicillin", severe=True),)))
    seen = patients.open_record(reception, rec.id)
    form = replace(ADA, mobile_phone="(212) 555-0199", alerts=seen.data.alerts, insurance=seen.data.insurance)
    updated = patients.update(reception, rec.id, seen.version, form)
    assert updated.data.mobile_phone == "+12125550199"
    assert [(a.description, a.severe) for a in updated.data.alerts] == [("Penicillin", True)]
    # but the alert itself is a clinician's to change
    with pytest.raises(PermissionDenied, match="Medical alerts are recorded by a dentist or hygienist"):
        patients.update(reception, rec.id, updated.version, replace(form, alerts=()))
    assert [a.description for a in patients.open_record(dentist, rec.id).data.alerts] == ["Penicillin"]


def test_every_change_is_written_to_the_change_log_with_the_row_version(admin, runtime):
    insured = replace(ADA, insurance=(InsuranceInput("Aetna", "A1"),))
    rec = patients.register(admin, insured)
    with runtime.sessions() as s:
        plan_id = s.scalar(select(PatientInsurance.id))
        after_register = count(runtime, ChangeLog)
    registered = change_log(runtime)[-2:]
    assert {(c.table_name, c.row_id, c.operation, c.row_version) for c in registered} == {
        ("patient", rec.id, "insert", 1),
        ("patient_insurance", plan_id, "insert", 1),
    }
    updated = patients.update(admin, rec.id, rec.version, replace(insured, city="Boston"))
    archived = patients.set_archived(admin, rec.id, True)
    patients.set_archived(admin, rec.id, False)
    later = change_log(runtime)[after_register:]
    assert [(c.table_name, c.operation, c.row_version) for c in later] == [
        ("patient", "update", 2),
        ("patient", "update", 3),
        ("patient", "update", 4),
    ]
    assert (updated.version, archived.version) == (2, 3)
    assert all(c.pushed_at is None for c in later)
    # the unchanged plan was left alone
    assert [c.row_id for c in change_log(runtime)].count(plan_id) == 1


def test_reads_and_refused_changes_write_nothing_to_the_change_log(admin, runtime):
    rec = patients.register(admin, ADA)
    before = count(runtime, ChangeLog)
    patients.open_record(admin, rec.id)
    patients.search(admin, "ada")
    patients.update(admin, rec.id, rec.version, ADA)  # nothing changed
    with pytest.raises(ValidationError):
        patients.update(admin, rec.id, rec.version, replace(ADA, email="not-an-email"))
    with pytest.raises(StaleEdit):
        patients.update(admin, rec.id, 99, replace(ADA, city="Boston"))
    assert count(runtime, ChangeLog) == before
