"""The demo seeder: a believable clinic that follows every rule a hand-entered one does."""

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app import bootstrap
from app.db.models import AuditEvent, ChangeLog, MedicalAlert, Patient, PatientInsurance, StaffUser
from app.domain.dates import format_date
from app.domain.patients import AlertInput, InsuranceInput, PatientInput, validate_patient
from app.domain.permissions import Role
from app.domain.phones import display_phone
from app.services import audit, auth, demo, patients
from app.services.context import Ctx
from tests.conftest import ADMIN_PASSWORD, PASSPHRASE, STAFF_PASSWORD

COUNT = 300


@pytest.fixture
def seeded(runtime):  # type: ignore[no-untyped-def]
    demo.seed(runtime, patients=COUNT, staff_password=STAFF_PASSWORD)
    return runtime


@pytest.fixture
def admin(seeded):  # type: ignore[no-untyped-def]
    return Ctx(seeded, auth.sign_in(seeded, "admin", ADMIN_PASSWORD))


def _all_patients(runtime) -> list[Patient]:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        return list(
            s.scalars(
                select(Patient)
                .order_by(Patient.chart_no)
                .options(selectinload(Patient.insurance), selectinload(Patient.alerts))
            )
        )


def test_every_seeded_patient_can_be_found(admin) -> None:  # type: ignore[no-untyped-def]
    rows = _all_patients(admin.runtime)
    assert len(rows) == COUNT
    assert sorted(int(p.chart_no) for p in rows) == list(range(1001, 1001 + COUNT))
    for p in rows:
        found = patients.search(admin, p.chart_no, include_archived=True)
        assert found and found[0].id == p.id, p.chart_no
    live = [p for p in rows if p.archived_at is None]
    assert len(live) < COUNT  # a few are archived, as in any clinic
    sample = live[0]
    by_name = patients.search(admin, f"{sample.first_name} {sample.last_name}")
    assert sample.id in [s.id for s in by_name]


def test_a_warm_search_index_sees_the_seeded_patients(runtime) -> None:  # type: ignore[no-untyped-def]
    admin = Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))
    assert patients.warm_search(admin) == 0
    demo.seed(runtime, patients=50, staff_password=STAFF_PASSWORD)
    first = _all_patients(runtime)[0]
    assert first.id in [s.id for s in patients.search(admin, first.chart_no, include_archived=True)]


def test_staff_of_every_role_sign_in_with_the_staff_password(seeded) -> None:  # type: ignore[no-untyped-def]
    roles = {}
    for username in demo.STAFF_USERNAMES:
        actor = auth.sign_in(seeded, username, STAFF_PASSWORD)
        roles[username] = actor.role
    assert set(roles.values()) == {Role.DENTIST, Role.HYGIENIST, Role.RECEPTIONIST}
    assert Counter(roles.values()) == {Role.DENTIST: 2, Role.HYGIENIST: 2, Role.RECEPTIONIST: 2}
    with seeded.sessions() as s:
        patel = s.scalar(select(StaffUser).where(StaffUser.username == "dr.patel"))
        assert patel is not None
        assert patel.display_name == "Dr Asha Patel"
        assert patel.licence_no and patel.provider_colour.startswith("#")
    assert auth.sign_in(seeded, "admin", ADMIN_PASSWORD).role is Role.ADMINISTRATOR


def test_families_share_a_guarantor(admin) -> None:  # type: ignore[no-untyped-def]
    rows = _all_patients(admin.runtime)
    by_id = {p.id: p for p in rows}
    dependants = [p for p in rows if p.guarantor_id]
    heads = {p.guarantor_id for p in dependants}
    in_families = len(dependants) + len(heads)
    assert 0.15 * COUNT <= in_families <= 0.4 * COUNT
    child = next(p for p in dependants if p.date_of_birth > by_id[p.guarantor_id].date_of_birth)
    head = by_id[child.guarantor_id]
    assert child.address_line1 == head.address_line1
    record = patients.open_record(admin, child.id)
    assert record.guarantor_name == f"{head.first_name} {head.last_name}"
    assert any(m.id == head.id and m.is_guarantor for m in record.family)


def test_alerts_insurance_and_contacts_look_like_a_clinic(seeded) -> None:  # type: ignore[no-untyped-def]
    rows = _all_patients(seeded)
    insured = [p for p in rows if p.insurance]
    alerted = [p for p in rows if p.alerts]
    assert 0.45 * COUNT <= len(insured) <= 0.75 * COUNT
    assert 0.1 * COUNT <= len(alerted) <= 0.3 * COUNT
    alerts = [a for p in alerted for a in p.alerts]
    assert any(a.severe for a in alerts) and sum(a.severe for a in alerts) < len(alerts) / 3
    assert {a.kind for a in alerts} == {"allergy", "condition", "medication"}
    assert all("(demo)" in i.carrier for p in insured for i in p.insurance)
    dependants = [i for p in insured if p.guarantor_id for i in p.insurance]
    assert any(i.relation in ("child", "spouse") for i in dependants)
    phones = [n for p in rows for n in (p.mobile_phone, p.home_phone, p.work_phone) if n]
    assert phones and all(n.startswith("+1") and n[5:9] == "5550" and n[9] == "1" for n in phones)
    emails = [p.email for p in rows if p.email]
    assert emails and all(e.rsplit("@", 1)[1] in ("example.org", "example.com", "example.net") for e in emails)
    assert all(p.notes.startswith("Synthetic demo patient") for p in rows)
    years = [p.date_of_birth.year for p in rows]
    assert min(years) < 1950 and max(years) >= date.today().year - 12  # elders and children


def test_every_seeded_patient_passes_the_patient_form_rules(seeded) -> None:  # type: ignore[no-untyped-def]
    info = seeded.info
    for p in _all_patients(seeded):
        typed = PatientInput(
            first_name=p.first_name,
            last_name=p.last_name,
            date_of_birth=format_date(p.date_of_birth, info.date_order),
            preferred_name=p.preferred_name,
            middle_name=p.middle_name,
            sex=p.sex,
            gender_identity=p.gender_identity,
            mobile_phone=display_phone(p.mobile_phone, info.phone_region),
            home_phone=display_phone(p.home_phone, info.phone_region),
            work_phone=display_phone(p.work_phone, info.phone_region),
            email=p.email,
            address_line1=p.address_line1,
            address_line2=p.address_line2,
            city=p.city,
            region=p.region,
            postal_code=p.postal_code,
            country=p.country,
            preferred_contact=p.preferred_contact,
            consent_sms=p.consent_sms,
            consent_email=p.consent_email,
            guarantor_id=p.guarantor_id,
            chart_no=p.chart_no,
            notes=p.notes,
            insurance=tuple(
                InsuranceInput(i.carrier, i.member_id, i.plan_name, i.subscriber_name, i.relation, i.priority)
                for i in p.insurance
            ),
            alerts=tuple(AlertInput(a.kind, a.description, a.severe) for a in p.alerts),
        )
        clean = validate_patient(typed, today=date.today(), phone_region=info.phone_region, date_order=info.date_order)
        assert (clean.date_of_birth, clean.mobile_phone, clean.home_phone) == (
            p.date_of_birth,
            p.mobile_phone,
            p.home_phone,
        )


def test_the_same_seed_gives_the_same_clinic(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    other = bootstrap.create_clinic(
        tmp_path / "other", clinic_name="Other", passphrase=PASSPHRASE, admin_password=ADMIN_PASSWORD
    )
    try:
        demo.seed(runtime, patients=60, staff_password=STAFF_PASSWORD, seed=7)
        demo.seed(other, patients=60, staff_password=STAFF_PASSWORD, seed=7)

        def names(rt) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
            return [(p.chart_no, p.first_name, p.last_name, p.date_of_birth) for p in _all_patients(rt)]

        assert names(runtime) == names(other)
        assert len({n[2] for n in names(runtime)}) > 30  # varied, not one family repeated
    finally:
        other.close()
    first = [p.form.last_name for p in demo.generate(60, seed=7)]
    assert first == [p.form.last_name for p in demo.generate(60, seed=7)]
    assert first != [p.form.last_name for p in demo.generate(60, seed=8)]


def test_names_are_diverse_and_include_accents() -> None:
    assert len(set(demo.FEMALE_NAMES + demo.MALE_NAMES)) >= 300
    assert len(demo.LAST_NAMES) >= 400
    assert "Zoë" in demo.FEMALE_NAMES and "Ó Briain" in demo.LAST_NAMES
    last = [p.form.last_name for p in demo.generate(2000)]
    assert any("-" in n for n in last)
    assert any(not n.isascii() for n in last)


def test_every_seeded_row_is_in_the_change_log(seeded) -> None:  # type: ignore[no-untyped-def]
    with seeded.sessions() as s:
        for model in (Patient, PatientInsurance, MedicalAlert, StaffUser):
            table = model.__tablename__
            ids = set(s.scalars(select(model.id)))
            logged = Counter(
                s.scalars(
                    select(ChangeLog.row_id).where(ChangeLog.table_name == table, ChangeLog.operation == "insert")
                )
            )
            assert ids and set(logged) == ids, table
            assert all(n == 1 for n in logged.values()), table
        unpushed = s.scalar(select(func.count()).select_from(ChangeLog).where(ChangeLog.pushed_at.is_(None)))
        assert unpushed and unpushed >= COUNT


def test_seeding_is_audited_once_and_the_chain_holds(seeded) -> None:  # type: ignore[no-untyped-def]
    assert audit.verify(seeded) is None
    with seeded.sessions() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "clinic.demo_seeded")))
    assert len(events) == 1
    details = json.loads(events[0].details)
    assert details["patients"] == COUNT
    assert details["staff_added"] == len(demo.STAFF_USERNAMES)
    assert events[0].username == "admin"
