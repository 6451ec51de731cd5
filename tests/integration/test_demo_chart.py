"""The demo clinical records: charts, completed work, plans, benefits, perio exams and notes
that a clinician opening the demo would find believable and consistent."""

import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.domain import teeth
from app.domain.dates import age_on
from app.domain.perio import PerioExam, summarize, worse_sites
from app.domain.permissions import Role
from app.services import audit, auth, charting, clinical_notes, demo, demo_chart, perio, treatment_plans
from app.services.context import Ctx
from app.services.runtime import ClinicRuntime
from tests.conftest import STAFF_PASSWORD
from tests.integration.conftest import DEMO_NOW, DEMO_PATIENTS, DEMO_TODAY, DEMO_TZ

COUNT = DEMO_PATIENTS
TZ = DEMO_TZ
TODAY = DEMO_TODAY
NOW = DEMO_NOW
CHART_TABLES = (
    "chart_entry",
    "treatment_plan",
    "treatment_plan_item",
    "insurance_benefits",
    "perio_exam",
    "clinical_note",
    "note_procedure",
    "note_addendum",
)


@pytest.fixture
def clinic(demo_clinic: ClinicRuntime) -> ClinicRuntime:
    return demo_clinic


def _rows(rt: ClinicRuntime, sql: str, **params: Any) -> list[Any]:
    with rt.engine.connect() as c:
        return list(c.execute(text(sql), params))


def _age(born: str) -> int:
    return age_on(date.fromisoformat(born), TODAY)


def _patients(rt: ClinicRuntime) -> dict[str, tuple[str, int]]:
    """patient id -> (chart number, age today)."""
    return {
        pid: (chart_no, _age(dob))
        for pid, chart_no, dob in _rows(rt, "SELECT id, chart_no, date_of_birth FROM patient")
    }


def _entries(rt: ClinicRuntime) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for r in _rows(
        rt,
        "SELECT patient_id, kind, code, tooth, surfaces, region, status, provider_id, entry_date, completed_at, "
        "appointment_id, draw, id FROM chart_entry ORDER BY entry_date, created_at",
    ):
        out[r.patient_id].append(r)
    return out


def _local_day(stored: str) -> date:
    return datetime.fromisoformat(stored).astimezone(TZ).date()


def test_every_patient_has_a_chart_that_fits_their_age(clinic: ClinicRuntime) -> None:
    people = _patients(clinic)
    entries = _entries(clinic)
    adults = [pid for pid, (_, age) in people.items() if age >= 18]
    charted = [pid for pid in adults if entries.get(pid)]
    assert len(charted) >= 0.97 * len(adults)
    # not just today's visit: what was in the mouth before (missing teeth, fillings, crowns)
    history = [pid for pid in adults if any(e.status in ("existing", "condition") for e in entries.get(pid, []))]
    assert len(history) >= 0.9 * len(adults)
    mixed = set(teeth.teeth_for(teeth.Dentition.MIXED))
    for pid, (chart_no, age) in people.items():
        on_teeth = [e.tooth for e in entries.get(pid, []) if e.tooth]
        if age < 6:
            assert all(teeth.is_primary(t) for t in on_teeth), chart_no
        elif age <= 12:
            assert set(on_teeth) <= mixed, chart_no
        else:
            assert not any(teeth.is_primary(t) for t in on_teeth), chart_no
        for e in entries.get(pid, []):
            if e.kind == "condition":
                assert e.status == "condition" and e.appointment_id is None
            if e.draw == "filling":
                assert e.surfaces and teeth.parse_surfaces(e.surfaces, e.tooth) == e.surfaces
    codes = Counter(e.code for rows in entries.values() for e in rows)
    for code in ("missing", "impacted", "caries", "watch", "RS210", "RS300", "PV130", "IM100", "PR200", "PR220"):
        assert codes[code], code
    # a bridge is an abutment, a pontic and an abutment side by side
    for rows in entries.values():
        for e in rows:
            if e.draw == "pontic" and e.status == "existing":
                q, p = e.tooth[0], int(e.tooth[1])
                sides = {x.tooth for x in rows if x.draw == "abutment" and x.entry_date == e.entry_date}
                assert {f"{q}{p - 1}", f"{q}{p + 1}"} <= sides


def test_existing_work_predates_the_first_visit_and_has_no_provider(clinic: ClinicRuntime) -> None:
    first_visit = {
        pid: _local_day(start)
        for pid, start in _rows(
            clinic, "SELECT patient_id, min(starts_at) FROM appointment WHERE status = 'completed' GROUP BY patient_id"
        )
    }
    born = {r.id: r.date_of_birth for r in _rows(clinic, "SELECT id, date_of_birth FROM patient")}
    for pid, rows in _entries(clinic).items():
        for e in rows:
            if e.status == "existing":
                assert e.provider_id is None and e.appointment_id is None and e.completed_at is None
                assert born[pid] <= e.entry_date < first_visit.get(pid, TODAY).isoformat()


def test_completed_work_has_a_provider_a_date_and_its_completed_visit(clinic: ClinicRuntime) -> None:
    visits = {
        r.id: r
        for r in _rows(clinic, "SELECT id, patient_id, provider_id, starts_at, ends_at, status FROM appointment")
    }
    completed = [e for rows in _entries(clinic).values() for e in rows if e.status == "completed"]
    assert len(completed) > 1000
    for e in completed:
        assert e.provider_id and e.appointment_id and e.completed_at
        assert e.entry_date <= TODAY.isoformat()
        v = visits[e.appointment_id]
        assert v.status == "completed" and v.patient_id == e.patient_id and v.provider_id == e.provider_id
        assert e.entry_date == _local_day(v.starts_at).isoformat()
        assert e.completed_at == v.ends_at
    # every completed visit in the book left something on the chart, bar a consultation
    with_work = {e.appointment_id for e in completed}
    bare = _rows(
        clinic,
        "SELECT t.name FROM appointment a JOIN appointment_type t ON t.id = a.appointment_type_id "
        "WHERE a.status = 'completed' AND a.ends_at <= :now",
        now=demo._utc_text(NOW),
    )
    assert len(bare) >= len(with_work) > 0.8 * len(bare)


def test_a_filled_surface_is_no_longer_charted_as_caries(clinic: ClinicRuntime) -> None:
    for rows in _entries(clinic).values():
        filled: dict[str, set[str]] = defaultdict(set)
        for e in rows:
            if e.status == "completed" and e.draw == "filling":
                filled[e.tooth] |= set(e.surfaces)
        for e in rows:
            if e.code == "caries":
                assert not set(e.surfaces) & filled.get(e.tooth, set()), (e.tooth, e.surfaces)


def test_plans_hold_planned_work_and_alternatives_are_decided_together(clinic: ClinicRuntime) -> None:
    people = _patients(clinic)
    items = _rows(
        clinic,
        "SELECT i.plan_id, i.phase, i.priority, e.status, e.patient_id, e.entry_date, e.code, "
        "p.patient_id AS owner FROM treatment_plan_item i JOIN chart_entry e ON e.id = i.chart_entry_id "
        "JOIN treatment_plan p ON p.id = i.plan_id",
    )
    plans = {r.id: r for r in _rows(clinic, "SELECT * FROM treatment_plan")}
    by_plan: dict[str, list[Any]] = defaultdict(list)
    for i in items:
        assert i.patient_id == i.owner and i.phase in (1, 2) and i.priority >= 1
        by_plan[i.plan_id].append(i)
    planned = {r[0] for r in _rows(clinic, "SELECT id FROM chart_entry WHERE status = 'planned'")}
    in_plans = {r[0] for r in _rows(clinic, "SELECT chart_entry_id FROM treatment_plan_item")}
    assert planned <= in_plans  # the chart service keeps every planned procedure in a plan
    for pid, plan in plans.items():
        lines = by_plan[pid]
        assert lines, plan.name
        assert people[plan.patient_id][1] >= 18
        if plan.status == "completed":
            assert all(i.status == "completed" for i in lines)
            assert plan.completed_on == max(i.entry_date for i in lines)
            assert plan.proposed_on <= plan.accepted_on <= min(i.entry_date for i in lines)
        else:
            assert all(i.status == "planned" for i in lines)
            assert 1 <= len(lines) <= 4 or plan.name.startswith("Option")
        if plan.status == "accepted":
            assert plan.accepted_on and plan.proposed_on <= plan.accepted_on <= TODAY.isoformat()
    adults = sum(age >= 18 for _, age in people.values())
    open_plans = {p.patient_id for p in plans.values() if p.name == "Treatment plan" and p.status != "completed"}
    assert 0.2 * adults <= len(open_plans) <= 0.45 * adults
    assert any(p.status == "completed" for p in plans.values())
    groups: dict[str, list[Any]] = defaultdict(list)
    for p in plans.values():
        groups[p.option_group].append(p)
    options = [g for g in groups.values() if len(g) > 1]
    assert options  # the demo always shows at least one choice between two options
    for g in options:
        assert all(p.name.startswith("Option ") for p in g)
        statuses = sorted(p.status for p in g)
        assert statuses in (["proposed", "proposed"], ["accepted", "declined"]), statuses
        for p in g:
            if p.status == "declined":
                assert p.status_reason.startswith("Patient chose Option")


def test_insured_patients_have_this_years_benefits(clinic: ClinicRuntime) -> None:
    insured = {r[0] for r in _rows(clinic, "SELECT DISTINCT patient_id FROM patient_insurance")}
    rows = _rows(clinic, "SELECT * FROM insurance_benefits")
    assert {r.patient_id for r in rows} == insured and len(rows) == len(insured)
    for r in rows:
        coverage = json.loads(r.coverage)
        assert coverage["preventive"] == 100 and coverage["prosthodontics"] == 50
        assert coverage["restorative"] in (70, 80)
        assert r.deductible_cents == 5000 and r.deductible_met_cents in (0, 5000)
        assert 100_000 <= r.annual_max_cents <= 200_000
        assert 0 <= r.max_used_cents <= 0.6 * r.annual_max_cents
        assert r.year_start == date(TODAY.year, 1, 1).isoformat()


def _chart_gone(rows: list[Any], on: str) -> tuple[set[str], set[str]]:
    """(teeth the chart says are not there to probe on a day, implants)."""
    gone = {
        e.tooth
        for e in rows
        if e.tooth
        and (
            e.code in ("missing", "impacted", "unerupted")
            or e.draw == "pontic"
            or (e.draw == "extraction" and e.status == "completed" and e.entry_date <= on)
        )
    }
    implants = {e.tooth for e in rows if e.draw == "implant" and e.status in ("existing", "completed")}
    return gone, implants


def test_perio_exams_agree_with_the_chart_and_show_progression(clinic: ClinicRuntime) -> None:
    people = _patients(clinic)
    entries = _entries(clinic)
    hygienists = {r[0] for r in _rows(clinic, "SELECT id FROM staff_user WHERE role = 'hygienist'")}
    exams: dict[str, list[Any]] = defaultdict(list)
    for r in _rows(clinic, "SELECT * FROM perio_exam ORDER BY exam_date"):
        exams[r.patient_id].append(r)
    adults = sum(age >= 18 for _, age in people.values())
    hygiene = {
        r[0]
        for r in _rows(
            clinic,
            "SELECT a.patient_id FROM appointment a JOIN appointment_type t ON t.id = a.appointment_type_id "
            "WHERE a.status = 'completed' AND t.name IN ('Recall & cleaning', 'Perio maintenance') "
            "UNION SELECT patient_id FROM patient_recall WHERE last_completed IS NOT NULL",
        )
    }
    seen = [pid for pid in hygiene if people[pid][1] >= 25]  # adults of 25 and over seen for hygiene
    assert 0.3 * len(seen) <= len(exams) <= 0.5 * len(seen)
    assert sum(len(x) == 2 for x in exams.values()) >= 0.3 * len(exams)
    perio_patients = 0
    for pid, rows in exams.items():
        assert people[pid][1] >= 25 and len(rows) <= 2
        readings = []
        for r in rows:
            assert r.status == "completed" and r.completed_at and r.completed_by == r.provider_id in hygienists
            assert r.exam_date <= TODAY.isoformat()
            exam = PerioExam.from_json(r.readings)  # valid, as the service would load it
            assert exam.to_json() == r.readings
            gone, implants = _chart_gone(entries[pid], r.exam_date)
            missing = {t for t, x in exam.teeth.items() if x.missing}
            assert gone & set(teeth.PERMANENT) <= missing and missing - gone <= {"18", "28", "38", "48"}
            assert {t for t, x in exam.teeth.items() if x.implant} == implants
            readings.append(exam)
        first = summarize(readings[0])
        deepest = max(d or 0 for x in readings[0].teeth.values() for d in x.depth)
        if deepest >= 5:  # a perio patient: pockets at the molars, bleeding, mobile teeth, a furcation
            perio_patients += 1
            assert first.bleeding_pct is not None and 19.5 <= first.bleeding_pct <= 40.5
            assert any(x.mobility for x in readings[0].teeth.values())
            assert any(x.furcation for x in readings[0].teeth.values())
            if len(readings) == 2:
                assert len(worse_sites(readings[0], readings[1])) >= 1
        else:
            assert deepest <= 4 and first.bleeding_pct is not None and first.bleeding_pct < 10
            if len(readings) == 2:
                assert not worse_sites(readings[0], readings[1])
    assert perio_patients >= 0.05 * adults


def test_recent_visits_have_signed_notes_linked_to_their_work(clinic: ClinicRuntime) -> None:
    cutoff = TODAY - timedelta(days=demo_chart.NOTE_DAYS)
    recent = {
        r.id: r
        for r in _rows(
            clinic,
            "SELECT a.id, a.patient_id, a.provider_id, a.starts_at, a.ends_at, t.name FROM appointment a "
            "JOIN appointment_type t ON t.id = a.appointment_type_id "
            "WHERE a.status = 'completed' AND a.ends_at <= :now",
            now=demo._utc_text(NOW),
        )
        if _local_day(r.starts_at) >= cutoff
    }
    notes = _rows(clinic, "SELECT * FROM clinical_note")
    assert {n.appointment_id for n in notes} == set(recent) and len(notes) == len(recent)
    templates = {name: body for _, name, body in clinical_notes.SHIPPED_TEMPLATES}
    for n in notes:
        v = recent[n.appointment_id]
        assert n.signed_at and v.ends_at <= n.signed_at <= demo._utc_text(NOW)
        assert n.author_id == v.provider_id and n.patient_id == v.patient_id and n.title == v.name
        assert n.visit_date == _local_day(v.starts_at).isoformat()
        assert "Medical history reviewed:\n" in n.body and "Next visit:\n" in n.body
        assert any(all(h in n.body for h in body.split("\n\n")) for body in templates.values()), n.body
        assert "mg" not in n.body  # no invented doses
    links = _rows(
        clinic,
        "SELECT n.patient_id AS note_patient, n.appointment_id AS visit, e.patient_id, e.appointment_id, e.status "
        "FROM note_procedure l JOIN clinical_note n ON n.id = l.note_id JOIN chart_entry e ON e.id = l.chart_entry_id",
    )
    assert links
    for link in links:
        assert link.note_patient == link.patient_id and link.visit == link.appointment_id
        assert link.status == "completed"
    done_recently = _rows(
        clinic,
        "SELECT count(*) FROM chart_entry WHERE status = 'completed' AND appointment_id IN "
        "(SELECT appointment_id FROM clinical_note)",
    )[0][0]
    assert done_recently == len(links)
    addenda = _rows(
        clinic, "SELECT a.*, n.signed_at AS note_signed FROM note_addendum a JOIN clinical_note n ON n.id = a.note_id"
    )
    assert addenda
    for a in addenda:
        assert a.note_signed < a.signed_at <= demo._utc_text(NOW) and a.body.startswith(("Patient phoned", "Lab"))
    # signed means signed: the database still refuses to change one
    with pytest.raises(DBAPIError, match="immutable"), clinic.engine.begin() as c:
        c.execute(text("UPDATE clinical_note SET body = 'changed' WHERE id = :id"), {"id": notes[0].id})


def test_every_inserted_row_is_in_the_change_log_once(clinic: ClinicRuntime) -> None:
    for table in CHART_TABLES:
        ids = [r[0] for r in _rows(clinic, f"SELECT id FROM {table}")]
        logged = Counter(
            r[0]
            for r in _rows(
                clinic,
                "SELECT row_id FROM change_log WHERE table_name = :t AND operation = 'insert' AND row_version = 1",
                t=table,
            )
        )
        assert ids and set(logged) == set(ids) and set(logged.values()) == {1}, table
        stamps = [r[0] for r in _rows(clinic, f"SELECT updated_at FROM {table}")]
        assert len(set(stamps)) == len(stamps) and max(stamps) <= demo._utc_text(NOW), table
    assert audit.verify(clinic) is None


def test_a_dentist_opens_the_demo_records_through_the_services(clinic: ClinicRuntime) -> None:
    dentist = Ctx(clinic, auth.sign_in(clinic, "dr.patel", STAFF_PASSWORD))
    assert dentist.actor and dentist.actor.role == Role.DENTIST
    pick = {
        "options": "SELECT patient_id FROM treatment_plan GROUP BY option_group HAVING count(*) > 1",
        "two exams": "SELECT patient_id FROM perio_exam GROUP BY patient_id HAVING count(*) = 2",
        "notes": "SELECT patient_id FROM note_addendum a JOIN clinical_note n ON n.id = a.note_id",
        "child": "SELECT id FROM patient WHERE date_of_birth > :young",
    }
    young = (TODAY - timedelta(days=5 * 365)).isoformat()
    for what, sql in pick.items():
        pid = _rows(clinic, sql + " LIMIT 1", young=young)[0][0]
        chart = charting.open_chart(dentist, pid)
        assert chart.entries, what
        plans = treatment_plans.list_plans(dentist, pid)
        exams = perio.list_exams(dentist, pid)
        notes = clinical_notes.list_notes(dentist, pid)
        if what == "options":
            chosen = [p for p in plans.plans if len(plans.alternatives(p.id)) == 2]
            assert chosen and all(p.estimate for p in chosen)
            drawn = {e.plan_id for e in chart.entries if e.status == "planned" and e.drawn}
            hidden = {e.plan_id for e in chart.entries if e.status == "planned" and not e.drawn}
            assert not drawn & hidden  # one option is drawn on the chart, never both
        if what == "two exams":
            assert len(exams) == 2 and all(e.status == "completed" for e in exams)
            compared = perio.comparison(dentist, exams[0].id, exams[1].id)
            assert compared.before.exam_date < compared.after.exam_date
            perio.staging(dentist, exams[0].id)
        if what == "notes":
            assert notes and all(n.signed for n in notes)
            assert any(n.addenda for n in notes) and any(n.procedures for n in notes)


def test_the_same_seed_gives_the_same_charts(clinic: ClinicRuntime, demo_twin: ClinicRuntime) -> None:
    other = demo_twin
    sql = {
        "entries": "SELECT p.chart_no, e.kind, e.code, e.tooth, e.surfaces, e.region, e.status, e.entry_date, "
        "e.fee_cents FROM chart_entry e JOIN patient p ON p.id = e.patient_id",
        "plans": "SELECT p.chart_no, t.name, t.status, t.proposed_on, t.accepted_on, t.declined_on "
        "FROM treatment_plan t JOIN patient p ON p.id = t.patient_id",
        "exams": "SELECT p.chart_no, x.exam_date, x.readings FROM perio_exam x JOIN patient p ON p.id = x.patient_id",
        "notes": "SELECT p.chart_no, n.visit_date, n.title, n.body, n.signed_at "
        "FROM clinical_note n JOIN patient p ON p.id = n.patient_id",
        "benefits": "SELECT p.chart_no, b.coverage, b.deductible_met_cents, b.annual_max_cents, b.max_used_cents "
        "FROM insurance_benefits b JOIN patient p ON p.id = b.patient_id",
    }
    for what, query in sql.items():
        mine, theirs = sorted(map(tuple, _rows(clinic, query))), sorted(map(tuple, _rows(other, query)))
        assert mine == theirs, what


def test_seeding_again_adds_no_second_chart(clinic: ClinicRuntime) -> None:
    before = _rows(clinic, "SELECT count(*) FROM chart_entry")[0][0]
    assert demo.seed_schedule(clinic, today=TODAY, now=NOW) == {}
    assert _rows(clinic, "SELECT count(*) FROM chart_entry")[0][0] == before
