"""The demo appointment book: a believable year of bookings that obeys every booking rule."""

from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.db.models import (
    Appointment,
    AppointmentStatusChange,
    AppointmentType,
    AuditEvent,
    ChangeLog,
    Location,
    Operatory,
    Patient,
    PatientRecall,
    RecallType,
    ReminderRule,
    ScheduleBlock,
    StaffUser,
    WeeklyHoursRow,
)
from app.domain.scheduling import Interval, add_months, local_to_utc
from app.services import audit, availability, demo
from app.services.runtime import ClinicRuntime
from tests.integration.conftest import DEMO_NOW, DEMO_PATIENTS, DEMO_TODAY, DEMO_TZ

COUNT = DEMO_PATIENTS
TZ = DEMO_TZ
TODAY = DEMO_TODAY
# mid-morning: the day holds finished, running and coming visits
NOW = DEMO_NOW
ACTIVE_SQL = "('scheduled', 'confirmed', 'arrived', 'seated', 'completed')"


@pytest.fixture
def book(demo_clinic: ClinicRuntime) -> ClinicRuntime:
    return demo_clinic


def _rows(rt: ClinicRuntime, sql: str, **params: Any) -> list[Any]:
    with rt.engine.connect() as c:
        return list(c.execute(text(sql), params))


def test_there_are_bookings_before_today_today_and_after(book: ClinicRuntime) -> None:
    with book.sessions() as s:
        appts = list(s.scalars(select(Appointment)))
    days = Counter(a.starts_at.astimezone(TZ).date() for a in appts if a.starts_at)
    assert min(days) >= TODAY - timedelta(days=demo.HISTORY_DAYS)
    assert max(days) <= TODAY + timedelta(days=demo.AHEAD_DAYS)
    assert any(d < TODAY for d in days) and any(d > TODAY for d in days)
    weekdays = [n for d, n in days.items() if d.weekday() < 5]
    # a typical weekday across ten chairs; fewer patients than that would cap it
    assert 60 <= sorted(weekdays)[len(weekdays) // 2] <= 95
    assert all(n < 10 for d, n in days.items() if d.weekday() == 5)  # one provider on Saturdays
    assert not any(d.weekday() == 6 for d in days)
    if TODAY.weekday() < 5:
        assert days[TODAY] >= 40


def test_no_provider_chair_or_patient_is_double_booked(book: ClinicRuntime) -> None:
    clashes = _rows(
        book,
        f"""
        SELECT a.id, b.id FROM appointment a JOIN appointment b
          ON a.id < b.id AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
         AND (a.provider_id = b.provider_id OR a.operatory_id = b.operatory_id OR a.patient_id = b.patient_id)
        WHERE a.status IN {ACTIVE_SQL} AND b.status IN {ACTIVE_SQL}
          AND a.deleted_at IS NULL AND b.deleted_at IS NULL
        """,
    )
    assert clashes == []
    # and a patient comes at most once a day, cancelled visits included
    twice = _rows(
        book,
        "SELECT patient_id, substr(starts_at, 1, 10) d, count(*) FROM appointment "
        "GROUP BY patient_id, d HAVING count(*) > 1",
    )
    assert twice == []


def test_statuses_fit_the_time_and_their_history(book: ClinicRuntime) -> None:
    with book.sessions() as s:
        appts = list(s.scalars(select(Appointment)))
        steps: dict[str, list[AppointmentStatusChange]] = defaultdict(list)
        for c in s.scalars(select(AppointmentStatusChange).order_by(AppointmentStatusChange.changed_at)):
            steps[c.appointment_id].append(c)
    statuses = Counter(a.status for a in appts)
    assert {"completed", "cancelled", "no_show", "broken", "scheduled", "confirmed"} <= set(statuses)
    assert statuses["completed"] > 0.8 * sum(n for st, n in statuses.items() if st != "scheduled" and st != "confirmed")
    for a in appts:
        assert a.starts_at is not None and a.ends_at is not None
        if a.starts_at > NOW:
            assert a.status in ("scheduled", "confirmed", "arrived"), a.status  # nothing to come is done
        if a.status == "arrived":
            assert a.starts_at - NOW <= timedelta(minutes=15)
        if a.status == "seated":
            assert a.starts_at <= NOW < a.ends_at
        if a.ends_at <= NOW:
            assert a.status in ("completed", "cancelled", "no_show", "broken"), a.status
        chain = steps.get(a.id, [])
        # each step starts where the last one ended, from 'scheduled' to today's status, all in the past
        current = "scheduled"
        for c in chain:
            assert c.from_status == current
            assert c.changed_at <= NOW
            current = c.to_status
        assert current == a.status
        if a.status == "cancelled":
            assert a.cancel_reason and chain[-1].reason == a.cancel_reason
        if a.status == "completed":
            assert [c.to_status for c in chain][-3:] == ["arrived", "seated", "completed"]


def test_every_booking_is_inside_its_providers_hours_and_clear_of_blocks(book: ClinicRuntime) -> None:
    with book.sessions() as s:
        loc = s.scalar(select(Location).where(Location.name == demo.DEMO_LOCATION))
        assert loc is not None
        first, last = TODAY - timedelta(days=demo.HISTORY_DAYS), TODAY + timedelta(days=demo.AHEAD_DAYS)
        free = availability.available(
            availability.provider_hours(s, loc.id, TZ, first, last), availability.blocks(s, loc.id, TZ, first, last)
        )
        appts = availability.active_appointments(
            s, loc.id, local_to_utc(first, time(0), TZ), local_to_utc(last, time(23), TZ)
        )
        lunches = list(s.scalars(select(ScheduleBlock).where(ScheduleBlock.kind == "lunch")))
    assert appts
    assert {b.start_local for b in lunches} == {"12:00"} and {b.end_local for b in lunches} == {"13:00"}
    for a in appts:
        assert a.starts_at and a.ends_at
        iv = Interval(a.starts_at, a.ends_at)
        assert any(f.contains(iv) for f in free[a.provider_id]), (a.provider_id, a.starts_at)
        local = iv.start.astimezone(TZ)
        end = iv.end.astimezone(TZ)
        if local.weekday() < 5:  # the Saturday shift ends at 13:00 with no lunch
            assert not (local.time() < time(13) and end.time() > time(12)), "over lunch"
        assert time(8) <= local.time() and end.time() <= time(17)
        assert local.minute % 10 == 0  # on the location's 10-minute grid


def test_the_set_up_recalls_and_reminder_rules_are_there(book: ClinicRuntime) -> None:
    with book.sessions() as s:
        loc = s.scalar(select(Location))
        assert loc is not None and loc.time_zone == book.info.time_zone and loc.grid_minutes == 10
        chairs = list(s.scalars(select(Operatory).order_by(Operatory.sort_order)))
        assert [c.name for c in chairs] == [f"Op {n}" for n in range(1, 11)]
        types = {t.name: (t.default_minutes, t.colour) for t in s.scalars(select(AppointmentType))}
        assert types["Crown prep"] == (90, "#8E24AA") and types["Emergency"] == (30, "#E53935")
        assert len(types) == 9
        providers = list(s.scalars(select(StaffUser).where(StaffUser.role.in_(("dentist", "hygienist")))))
        assert len(providers) >= 5 and all(p.provider_colour.startswith("#") for p in providers)
        saturday = list(
            s.scalars(
                select(WeeklyHoursRow).where(WeeklyHoursRow.weekday == 5, WeeklyHoursRow.provider_id.is_not(None))
            )
        )
        assert [(h.start_local, h.end_local) for h in saturday] == [("08:00", "13:00")]
        vacation = s.scalar(select(ScheduleBlock).where(ScheduleBlock.kind == "vacation"))
        assert vacation is not None and vacation.starts_at is not None and vacation.ends_at is not None
        assert vacation.starts_at.astimezone(TZ).date().month == (TODAY.month % 12) + 1
        assert vacation.starts_at.astimezone(TZ).time() == time(0)
        assert (vacation.ends_at - vacation.starts_at) >= timedelta(days=5) - timedelta(hours=1)
        booked_on_vacation = s.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(
                Appointment.provider_id == vacation.provider_id,
                Appointment.starts_at < vacation.ends_at,
                Appointment.ends_at > vacation.starts_at,
            )
        )
        assert booked_on_vacation == 0
        assert s.scalar(select(func.count()).select_from(ScheduleBlock).where(ScheduleBlock.kind == "meeting")) >= 10

        kinds = {r.code: r for r in s.scalars(select(RecallType))}
        assert {(c, r.interval_months) for c, r in kinds.items()} == {("PROPHY", 6), ("PERIO", 3), ("BW", 12)}
        live = s.scalar(select(func.count()).select_from(Patient).where(Patient.archived_at.is_(None))) or 0
        recalls = list(s.scalars(select(PatientRecall)))
        share = len({r.patient_id for r in recalls}) / live
        assert 0.45 <= share <= 0.75
        months = {r.id: r.interval_months for r in kinds.values()}
        for r in recalls:
            assert r.last_completed is not None and r.last_completed <= TODAY
            assert r.due_date == add_months(r.last_completed, months[r.recall_type_id])
        # a hygiene recall dated inside the seeded year matches a completed hygiene visit that day
        hygiene = {
            (p, d)
            for p, d in _rows(
                book,
                "SELECT a.patient_id, a.starts_at FROM appointment a JOIN appointment_type t "
                "ON t.id = a.appointment_type_id WHERE a.status = 'completed' "
                "AND t.name IN ('Recall & cleaning', 'Perio maintenance')",
            )
        }
        seen = {(p, datetime.fromisoformat(d).astimezone(TZ).date()) for p, d in hygiene}
        inside = [r for r in recalls if r.last_completed >= TODAY - timedelta(days=demo.HISTORY_DAYS)]
        assert inside and all((r.patient_id, r.last_completed) in seen for r in inside)

        rules = {(r.kind, r.offset_minutes, r.template_key) for r in s.scalars(select(ReminderRule))}
        assert rules == {
            ("appointment", 2880, "appointment_reminder"),
            ("appointment", 120, "appointment_reminder"),
            ("recall", 20160, "recall_due"),
        }


def test_seeding_is_logged_for_sync_and_audited_once(book: ClinicRuntime) -> None:
    assert audit.verify(book) is None
    with book.sessions() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "schedule.demo_seeded")))
        assert len(events) == 1
        for model in (Appointment, AppointmentStatusChange, PatientRecall, Location, Operatory):
            ids = set(s.scalars(select(model.id)))
            logged = set(s.scalars(select(ChangeLog.row_id).where(ChangeLog.table_name == model.__tablename__)))
            assert ids and ids == logged, model.__tablename__
    # the overlap triggers are still in place after the bulk insert
    names = {r[0] for r in _rows(book, "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"appointment_no_overlap_insert", "appointment_no_overlap_update"} <= names


def test_seeding_again_leaves_the_book_alone(book: ClinicRuntime) -> None:
    with book.sessions() as s:
        before = s.scalar(select(func.count()).select_from(Appointment))
    assert demo.seed_schedule(book, today=TODAY, now=NOW) == {}
    with book.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Appointment)) == before


def _fingerprint(rt: ClinicRuntime) -> list[tuple[object, ...]]:
    return [
        tuple(r)
        for r in _rows(
            rt,
            "SELECT p.chart_no, u.username, o.name, t.name, a.starts_at, a.ends_at, a.status, a.cancel_reason "
            "FROM appointment a JOIN patient p ON p.id = a.patient_id JOIN staff_user u ON u.id = a.provider_id "
            "JOIN operatory o ON o.id = a.operatory_id JOIN appointment_type t ON t.id = a.appointment_type_id "
            "ORDER BY a.starts_at, u.username",
        )
    ]


def test_the_same_seed_and_day_give_the_same_book(book: ClinicRuntime, demo_twin: ClinicRuntime) -> None:
    other = demo_twin
    assert _fingerprint(other) == _fingerprint(book)
