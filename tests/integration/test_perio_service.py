"""Perio exams through their service, on a real encrypted clinic: what the clinician charts is
what comes back, a completed exam is locked, and only clinicians see or touch any of it."""

from datetime import date

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from app.db.models import AuditEvent, ChartEntry
from app.db.types import utcnow
from app.domain.errors import ValidationError
from app.domain.patients import PatientInput
from app.domain.perio import PerioExam
from app.domain.permissions import Role
from app.services import patients, perio
from app.services.context import PermissionDenied
from app.services.patients import PatientNotFound
from app.services.perio import ExamInProgress, ExamLocked, ExamNotFound, NothingRecorded, StaleExam


@pytest.fixture
def patient_id(staff) -> str:  # type: ignore[no-untyped-def]
    # the test clinic reads dates month first: born 14 March 1995
    return patients.register(staff[Role.DENTIST], PatientInput("Rosalind", "Franklin", "03/14/1995")).id


def add_chart(runtime, patient_id: str, **values) -> None:  # type: ignore[no-untyped-def]
    values.setdefault("code", "X")
    values.setdefault("description", "test entry")
    values.setdefault("status", "existing")
    with runtime.sessions() as s:
        s.add(ChartEntry(patient_id=patient_id, entry_date=date(2024, 1, 5), **values))
        s.commit()


def events(runtime, entity_id: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.entity_id == entity_id).order_by(AuditEvent.seq)))


def count_events(runtime, action: str) -> int:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def probe_all(exam: PerioExam, depth: int = 3) -> PerioExam:
    for t in exam.present_teeth():
        for i in range(6):
            exam.set_depth(t, i, depth)
            exam.set_margin(t, i, 1)
    return exam


def test_a_new_exam_starts_with_the_charted_missing_teeth_and_implants(staff, runtime, patient_id):
    add_chart(runtime, patient_id, kind="condition", code="missing", draw="missing", tooth="18")
    add_chart(runtime, patient_id, kind="condition", code="missing", draw="", tooth="28")
    add_chart(runtime, patient_id, kind="procedure", code="OS100", draw="extraction", tooth="38", status="completed")
    # planned, not yet done: the tooth is still there to be probed
    add_chart(runtime, patient_id, kind="procedure", code="OS100", draw="extraction", tooth="48", status="planned")
    add_chart(runtime, patient_id, kind="condition", code="implant", draw="implant", tooth="36")
    # extracted, then an implant placed: the implant is what is probed
    add_chart(runtime, patient_id, kind="procedure", code="OS100", draw="extraction", tooth="46", status="completed")
    add_chart(runtime, patient_id, kind="procedure", code="IM100", draw="implant", tooth="46", status="completed")
    # a finding struck off the chart no longer counts
    add_chart(runtime, patient_id, kind="condition", code="missing", draw="missing", tooth="17", deleted_at=utcnow())
    # primary teeth are not perio-charted; another patient's chart is not this one's
    add_chart(runtime, patient_id, kind="condition", code="missing", draw="missing", tooth="55")
    other = patients.register(staff[Role.DENTIST], PatientInput("Maurice", "Wilkins", "12/15/1916")).id
    add_chart(runtime, other, kind="condition", code="missing", draw="missing", tooth="11")
    hygienist = staff[Role.HYGIENIST]

    record = perio.start_exam(hygienist, patient_id, exam_date=date(2025, 3, 4))

    marked = {t: r for t, r in record.exam.teeth.items() if r.missing or r.implant}
    assert {t for t, r in marked.items() if r.missing} == {"18", "28", "38"}
    assert {t for t, r in marked.items() if r.implant} == {"36", "46"}
    assert (record.status, record.provider_name) == ("in_progress", "Test Hygienist")
    assert record.exam_date == date(2025, 3, 4)
    assert len(record.exam.present_teeth()) == 29
    assert [e.action for e in events(runtime, record.id)] == ["perio.started"]


def test_only_one_exam_at_a_time_is_in_progress(staff, patient_id):
    dentist = staff[Role.DENTIST]
    first = perio.start_exam(dentist, patient_id, exam_date=date(2025, 3, 4))
    with pytest.raises(ExamInProgress, match=r"exam of 03/04/2025 is still in progress"):
        perio.start_exam(staff[Role.HYGIENIST], patient_id)
    perio.discard_exam(dentist, first.id, first.version)
    assert perio.start_exam(dentist, patient_id).status == "in_progress"


def test_saved_readings_come_back_exactly_and_every_step_is_audited(staff, runtime, patient_id):
    dentist = staff[Role.DENTIST]
    record = perio.start_exam(dentist, patient_id, exam_date=date(2025, 3, 4))
    exam = record.exam
    exam.set_depth("16", 0, 5)
    exam.set_margin("16", 0, 2)
    exam.set_flag("bleeding", "16", 0, True)
    exam.set_depth("16", 1, 3)
    exam.set_flag("plaque", "21", 4, True)
    exam.set_mobility("31", 1)
    exam.set_furcation("36", "B", 2)

    version = perio.save_exam(dentist, record.id, record.version, exam)

    again = perio.get_exam(dentist, record.id)
    assert version == again.version == record.version + 1
    r16 = again.exam.teeth["16"]
    assert (r16.depth[:2], r16.margin[0], r16.bleeding[0], r16.cal(0)) == ([5, 3], 2, True, 7)
    assert again.exam.teeth["31"].mobility == 1
    assert again.exam.teeth["36"].furcation == {"B": 2}
    assert again.exam.to_json() == exam.to_json()
    (row,) = perio.list_exams(dentist, patient_id)
    assert (row.id, row.summary.sites_probed, row.summary.sites_5_plus, str(row.summary.bleeding_pct)) == (
        record.id,
        2,
        1,
        "50.0",
    )
    saved = [e for e in events(runtime, record.id) if e.action == "perio.saved"]
    assert len(saved) == 1
    # the audit says how much changed, not the readings themselves
    assert '"sites_changed": 3' in saved[0].details and "depth" not in saved[0].details

    exam.set_depth("17", 2, 4)
    perio.save_exam(dentist, record.id, version, exam)
    done = perio.complete_exam(dentist, record.id, version + 1)
    assert [e.action for e in events(runtime, record.id)] == [
        "perio.started",
        "perio.saved",
        "perio.opened",
        "perio.saved",
        "perio.completed",
    ]
    assert {e.patient_id for e in events(runtime, record.id)} == {patient_id}
    assert (done.status, done.completed_by_name) == ("completed", "Test Dentist")


def test_saving_unchanged_readings_writes_nothing(staff, runtime, patient_id):
    dentist = staff[Role.DENTIST]
    record = perio.start_exam(dentist, patient_id)
    assert perio.save_exam(dentist, record.id, record.version, record.exam) == record.version
    assert count_events(runtime, "perio.saved") == 0


def test_an_impossible_reading_is_refused_with_its_message_and_nothing_is_saved(staff, runtime, patient_id):
    dentist = staff[Role.DENTIST]
    record = perio.start_exam(dentist, patient_id)
    exam = record.exam
    exam.set_depth("11", 1, 4)
    exam.teeth["16"].depth[0] = 25  # past the setters, as a damaged form might send it
    exam.teeth["46"].mobility = 7

    with pytest.raises(ValidationError) as refused:
        perio.save_exam(dentist, record.id, record.version, exam)

    assert refused.value.messages() == {
        "16.DB.depth": "Probing depth 25 mm at 16 DB is not possible (0–19 mm).",
        "46.mobility": "Mobility 7 on 46 is not possible (0–3).",
    }
    again = perio.get_exam(dentist, record.id)
    assert again.version == record.version
    assert again.exam.teeth["11"].depth == [None] * 6
    assert count_events(runtime, "perio.saved") == 0


def test_an_exam_with_nothing_probed_cannot_be_completed(staff, patient_id):
    dentist = staff[Role.DENTIST]
    record = perio.start_exam(dentist, patient_id)
    with pytest.raises(NothingRecorded, match="Nothing recorded yet: probe at least one site before completing."):
        perio.complete_exam(dentist, record.id, record.version)
    assert perio.get_exam(dentist, record.id).status == "in_progress"


def test_a_completed_exam_cannot_be_changed_or_discarded_by_any_path(staff, runtime, patient_id):
    hygienist, dentist = staff[Role.HYGIENIST], staff[Role.DENTIST]
    record = perio.start_exam(hygienist, patient_id, exam_date=date(2025, 3, 4))
    version = perio.save_exam(hygienist, record.id, record.version, probe_all(record.exam))
    done = perio.complete_exam(hygienist, record.id, version)
    assert done.completed_at is not None
    before = done.exam.to_json()
    changed = probe_all(done.exam, depth=9)

    locked = r"This exam was completed on \d\d/\d\d/\d{4} by Test Hygienist and can no longer be changed\."
    with pytest.raises(ExamLocked, match=locked):
        perio.save_exam(dentist, record.id, done.version, changed)
    with pytest.raises(ExamLocked, match=locked):
        perio.discard_exam(dentist, record.id, done.version)
    with pytest.raises(ExamLocked, match=locked):
        perio.complete_exam(dentist, record.id, done.version)
    # the database refuses too, whatever code path (or sync bug) tries it
    with pytest.raises(DBAPIError, match="completed perio exam is locked"):
        with runtime.engine.begin() as conn:
            conn.execute(text("UPDATE perio_exam SET readings = '{}' WHERE id = :id"), {"id": record.id})

    again = perio.get_exam(dentist, record.id)
    assert (again.exam.to_json(), again.version, again.status) == (before, done.version, "completed")
    assert perio.start_exam(dentist, patient_id).status == "in_progress"  # the next exam can begin


def test_a_save_over_someone_elses_newer_save_is_refused_and_names_them(staff, patient_id):
    dentist, hygienist = staff[Role.DENTIST], staff[Role.HYGIENIST]
    record = perio.start_exam(dentist, patient_id)
    theirs = perio.get_exam(hygienist, record.id).exam
    mine = record.exam
    mine.set_depth("11", 0, 4)
    perio.save_exam(dentist, record.id, record.version, mine)
    theirs.set_depth("11", 0, 7)

    with pytest.raises(StaleExam, match=r"saved by dentist at \d\d:\d\d .*not saved"):
        perio.save_exam(hygienist, record.id, record.version, theirs)

    assert perio.get_exam(dentist, record.id).exam.teeth["11"].depth[0] == 4


def test_a_discarded_exam_is_gone_from_the_list_and_cannot_be_opened(staff, runtime, patient_id):
    dentist = staff[Role.DENTIST]
    record = perio.start_exam(dentist, patient_id)
    perio.discard_exam(dentist, record.id, record.version)
    assert perio.list_exams(dentist, patient_id) == []
    with pytest.raises(ExamNotFound, match="no longer exists"):
        perio.get_exam(dentist, record.id)
    with pytest.raises(ExamNotFound):
        perio.save_exam(dentist, record.id, record.version + 1, record.exam)
    assert [e.action for e in events(runtime, record.id)][-1] == "perio.discarded"


def test_an_unknown_patient_is_refused_plainly(staff):
    dentist = staff[Role.DENTIST]
    with pytest.raises(PatientNotFound, match="does not exist"):
        perio.start_exam(dentist, "no-such-patient")
    with pytest.raises(PatientNotFound):
        perio.list_exams(dentist, "no-such-patient")


def _completed(ctx, patient_id: str, day: date, depths: dict[tuple[str, int], int]):  # type: ignore[no-untyped-def]
    record = perio.start_exam(ctx, patient_id, exam_date=day)
    exam = probe_all(record.exam, depth=2)
    for (t, i), d in depths.items():
        exam.set_depth(t, i, d)
    version = perio.save_exam(ctx, record.id, record.version, exam)
    return perio.complete_exam(ctx, record.id, version)


DEEP = {(t, 0): 6 for t in ("16", "26", "36", "46")}


def test_comparing_with_an_earlier_exam_marks_the_sites_that_got_worse(staff, runtime, patient_id):
    dentist = staff[Role.DENTIST]
    earlier = _completed(dentist, patient_id, date(2023, 2, 1), {("16", 0): 3, ("21", 1): 5})
    later = _completed(dentist, patient_id, date(2024, 2, 1), {("16", 0): 6, ("21", 1): 2})

    # the order given does not matter: "before" is the earlier exam
    result = perio.comparison(dentist, earlier.id, later.id)

    assert (result.before.id, result.after.id) == (earlier.id, later.id)
    assert result.worse == {("16", "DB")}
    assert {(c.tooth, c.site, c.depth_before, c.depth_after, c.better) for c in result.changes} == {
        ("16", "DB", 3, 6, False),
        ("21", "B", 5, 2, True),
    }
    assert result.after_summary.sites_5_plus == 1
    assert [r.id for r in perio.list_exams(dentist, patient_id)] == [later.id, earlier.id]
    assert count_events(runtime, "perio.compared") == 1


def test_staging_uses_the_patients_age_at_the_exam(staff, patient_id):
    dentist = staff[Role.DENTIST]
    exam = _completed(dentist, patient_id, date(2025, 3, 4), DEEP)  # she is 29 that day
    suggestion = perio.staging(dentist, exam.id)
    assert (suggestion.periodontitis, suggestion.stage, suggestion.grade) == (True, "III", "C")
    assert any("at 29" in r for r in suggestion.reasons)


def test_staging_grades_from_an_earlier_completed_exam_a_year_or_more_before(staff, patient_id):
    dentist = staff[Role.DENTIST]
    _completed(dentist, patient_id, date(2023, 1, 10), DEEP)
    exam = _completed(dentist, patient_id, date(2025, 3, 4), DEEP)
    suggestion = perio.staging(dentist, exam.id)
    assert (suggestion.stage, suggestion.grade) == ("III", "A")
    assert any("No attachment loss" in r for r in suggestion.reasons)


@pytest.mark.parametrize("role", [Role.RECEPTIONIST, Role.ADMINISTRATOR])
def test_front_desk_and_administrators_can_neither_read_nor_write_perio(staff, runtime, patient_id, role):
    dentist, desk = staff[Role.DENTIST], staff[role]
    done = _completed(dentist, patient_id, date(2024, 2, 1), {("16", 0): 4})
    record = perio.start_exam(dentist, patient_id)
    denied = count_events(runtime, "permission.denied")
    calls = [
        lambda: perio.list_exams(desk, patient_id),
        lambda: perio.get_exam(desk, record.id),
        lambda: perio.comparison(desk, record.id, done.id),
        lambda: perio.staging(desk, done.id),
        lambda: perio.start_exam(desk, patient_id),
        lambda: perio.save_exam(desk, record.id, record.version, probe_all(record.exam)),
        lambda: perio.complete_exam(desk, record.id, record.version),
        lambda: perio.discard_exam(desk, record.id, record.version),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied, match="does not allow this"):
            call()
    assert count_events(runtime, "permission.denied") == denied + len(calls)
    with pytest.raises(PermissionDenied):
        perio.save_exam(desk, record.id, record.version, probe_all(record.exam))
    untouched = perio.get_exam(dentist, record.id)
    assert (untouched.version, untouched.status, untouched.exam.to_json()) == (
        record.version,
        "in_progress",
        PerioExam.blank().to_json(),
    )
    assert count_events(runtime, "perio.opened") == 1  # the dentist's, just now


def test_saving_a_full_exam_is_one_update_and_never_rereads_the_chart(staff, runtime, patient_id):
    dentist = staff[Role.DENTIST]
    record = perio.start_exam(dentist, patient_id)
    exam = probe_all(record.exam)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()))

    event.listen(runtime.engine, "before_cursor_execute", seen)
    try:
        perio.save_exam(dentist, record.id, record.version, exam)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", seen)

    touching_exam = [s for s in statements if "perio_exam" in s]
    assert [s.split()[0] for s in touching_exam] == ["SELECT", "UPDATE"]
    assert not [s for s in statements if "chart_entry" in s]
    assert len(statements) <= 10, statements
