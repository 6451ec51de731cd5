"""The appointment book as the front desk uses it, against a real encrypted clinic.

Booking, clashes, hours, the visit workflow, slot finding, clock-change days, permissions,
the audit trail, and a property test that no sequence of changes stores a double booking.
"""

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import keyring
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app.db.models import Appointment, AppointmentStatusChange, AuditEvent, ChangeLog
from app.db.types import utcnow
from app.domain.dates import parse_date
from app.domain.errors import FieldError, UserError
from app.domain.permissions import ROLE_SCOPES, Role, Scope
from app.domain.scheduling import IllegalTransition, SlotPreference, VisitStatus
from app.services import scheduling
from app.services.context import Ctx, PermissionDenied
from app.services.scheduling import DoubleBooking, OutsideHours, SlotQuery, StaleAppointment
from tests.conftest import MemoryKeyring
from tests.integration.scheduling_fixtures import (
    EVERY_DAY,
    FUTURE_MONDAY,
    Book,
    Template,
    add_block,
    add_hours,
    add_patient,
    clear_appointments,
    contexts,
    make_book,
    minutes,
    open_copy,
)

D, H, R, A = Role.DENTIST, Role.HYGIENIST, Role.RECEPTIONIST, Role.ADMINISTRATOR
MON = FUTURE_MONDAY  # 3 March 2031, New York on EST (clocks change on Sunday the 9th)
TUE, WED, THU, FRI = (MON + timedelta(days=n) for n in range(1, 5))
NEXT_MON = MON + timedelta(days=7)
S = VisitStatus


@pytest.fixture
def book(admin: Ctx) -> Book:
    return make_book(admin)


@pytest.fixture
def ada(admin: Ctx) -> str:
    return add_patient(admin, "Ada", "Lovelace")


@pytest.fixture
def charles(admin: Ctx) -> str:
    return add_patient(admin, "Charles", "Babbage")


@pytest.fixture
def grace(admin: Ctx) -> str:
    return add_patient(admin, "Grace", "Hopper")


def appointments(ctx: Ctx) -> list[Appointment]:
    with ctx.runtime.sessions() as s:
        return list(s.scalars(select(Appointment).order_by(Appointment.starts_at)))


def last_event(ctx: Ctx, action: str) -> AuditEvent:
    with ctx.runtime.sessions() as s:
        ev = s.scalar(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq.desc()).limit(1))
        assert ev is not None, f"no {action} event"
        return ev


def clock(view: scheduling.AppointmentView) -> str:
    assert view.starts_at is not None and view.ends_at is not None
    tz = ZoneInfo(view.time_zone)
    return f"{view.starts_at.astimezone(tz):%H:%M}-{view.ends_at.astimezone(tz):%H:%M}"


# --- booking and clashes -------------------------------------------------------------------


def test_a_receptionist_books_a_visit_inside_working_hours(desk, book, ada):
    view = scheduling.book(desk, book.request(ada, MON, "10:00", "10:30"))
    assert (view.patient_name, view.provider_name, view.operatory_name) == ("Lovelace, Ada", "Dr Provider 1", "Op 1")
    assert (clock(view), view.status, view.version, view.minutes) == ("10:00-10:30", S.SCHEDULED, 1, 30)
    assert view.starts_at == datetime(2031, 3, 3, 15, 0, tzinfo=UTC)  # EST is UTC-5
    day = scheduling.day_book(desk, book.location_id, MON)
    assert [v.id for v in day.appointments] == [view.id]


@pytest.mark.parametrize(
    ("provider", "chair", "who", "clash"),
    [
        (0, 1, "charles", "the provider already has Lovelace, Ada with Dr Provider 1 from 10:00 to 10:30"),
        (1, 0, "charles", "the chair is taken by Lovelace, Ada with Dr Provider 1 from 10:00 to 10:30"),
        (1, 1, "ada", "the patient already has Lovelace, Ada with Dr Provider 1 from 10:00 to 10:30"),
    ],
)
def test_the_same_provider_chair_or_patient_at_an_overlapping_time_is_refused_naming_the_clash(
    desk, book, ada, charles, provider, chair, who, clash
):
    scheduling.book(desk, book.request(ada, MON, "10:00", "10:30"))
    patient = {"ada": ada, "charles": charles}[who]
    with pytest.raises(DoubleBooking) as e:
        scheduling.book(desk, book.request(patient, MON, "10:20", "10:50", provider=provider, chair=chair))
    assert str(e.value) == f"That time is not free: {clash}."
    assert len(appointments(desk)) == 1


def test_touching_appointments_are_not_a_clash(desk, book, ada, charles):
    first = scheduling.book(desk, book.request(ada, MON, "10:00", "10:30"))
    second = scheduling.book(desk, book.request(charles, MON, "10:30", "11:00"))
    before = scheduling.book(desk, book.request(charles, MON, "09:30", "10:00"))
    assert [clock(v) for v in (before, first, second)] == ["09:30-10:00", "10:00-10:30", "10:30-11:00"]


@pytest.mark.parametrize("status", [S.CANCELLED, S.NO_SHOW, S.BROKEN])
def test_a_cancelled_no_show_or_broken_appointment_frees_its_slot(desk, book, ada, charles, status):
    first = scheduling.book(desk, book.request(ada, MON, "10:00", "10:30"))
    scheduling.set_status(desk, first.id, first.version, status, reason="patient ill")
    again = scheduling.book(desk, book.request(charles, MON, "10:00", "10:30"))
    assert again.status is S.SCHEDULED
    day = scheduling.day_book(desk, book.location_id, MON)
    assert [v.id for v in day.appointments] == [again.id]


def test_the_pinboard_frees_the_slot_and_rebooking_from_it_puts_the_visit_back(desk, book, ada, charles):
    first = scheduling.book(desk, book.request(ada, MON, "10:00", "10:30"))
    pinned = scheduling.to_pinboard(desk, first.id, first.version)
    assert (pinned.on_pinboard, pinned.starts_at, pinned.version) == (True, None, 2)
    assert [v.id for v in scheduling.pinboard(desk, book.location_id)] == [first.id]
    assert scheduling.day_book(desk, book.location_id, MON).appointments == ()

    # the freed slot is bookable, and then the pinned visit cannot go back there
    taken = scheduling.book(desk, book.request(charles, MON, "10:00", "10:30"))
    with pytest.raises(DoubleBooking):
        scheduling.move(desk, first.id, pinned.version, book.at(MON, "10:00"), book.at(MON, "10:30"))
    back = scheduling.move(desk, first.id, pinned.version, book.at(MON, "11:00"), book.at(MON, "11:30"))
    assert (back.on_pinboard, clock(back), back.operatory_id) == (False, "11:00-11:30", book.chair_ids[0])
    assert scheduling.pinboard(desk, book.location_id) == []
    assert [v.id for v in scheduling.day_book(desk, book.location_id, MON).appointments] == [taken.id, first.id]


@pytest.mark.parametrize(
    ("provider", "chair", "patient"),
    [(0, 1, "charles"), (1, 0, "charles"), (1, 1, "ada")],
    ids=["same provider", "same chair", "same patient"],
)
def test_the_database_refuses_an_overlap_even_when_the_service_check_is_bypassed(
    admin, book, ada, charles, provider, chair, patient
):
    scheduling.book(admin, book.request(ada, MON, "10:00", "10:30"))
    row = Appointment(
        patient_id={"ada": ada, "charles": charles}[patient],
        provider_id=book.provider_ids[provider],
        operatory_id=book.chair_ids[chair],
        location_id=book.location_id,
        starts_at=book.at(MON, "10:15"),
        ends_at=book.at(MON, "10:45"),
        time_zone=book.time_zone,
    )
    with admin.uow() as uow:
        uow.session.add(row)
        with pytest.raises(IntegrityError, match="appointment overlap"):
            uow.commit()
    assert len(appointments(admin)) == 1


def test_the_database_refuses_an_update_that_makes_an_overlap_or_ends_before_it_starts(admin, book, ada, charles):
    scheduling.book(admin, book.request(ada, MON, "10:00", "10:30"))
    later = scheduling.book(admin, book.request(charles, MON, "11:00", "11:30"))
    for start, end, message in [
        ("10:10", "10:40", "appointment overlap"),
        ("11:30", "11:00", "appointment ends before it starts"),
    ]:
        with admin.uow() as uow:
            row = uow.session.get(Appointment, later.id)
            assert row is not None
            row.starts_at, row.ends_at = book.at(MON, start), book.at(MON, end)
            with pytest.raises(IntegrityError, match=message):
                uow.commit()
    assert [clock(v) for v in scheduling.range_appointments(admin, book.location_id, MON, MON)] == [
        "10:00-10:30",
        "11:00-11:30",
    ]


# --- hours, lunch and blocks -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [("12:00", "12:30"), ("11:40", "12:10"), ("17:00", "17:30"), ("07:30", "08:30")],
    ids=["over lunch", "into lunch", "after hours", "before hours"],
)
def test_a_receptionist_cannot_book_outside_hours_or_over_lunch(desk, book, ada, start, end):
    with pytest.raises(OutsideHours, match="needs a dentist or administrator"):
        scheduling.book(desk, replace(book.request(ada, MON, start, end), outside_hours_reason="patient asked"))
    assert appointments(desk) == []


def test_a_vacation_block_makes_the_provider_unbookable_for_the_front_desk(admin, desk, book, ada):
    add_block(admin, book, book.at(TUE, "00:00"), book.at(WED, "00:00"), provider=0)
    with pytest.raises(OutsideHours):
        scheduling.book(desk, book.request(ada, TUE, "09:00", "09:30"))
    # the other provider is still working that day
    assert (
        scheduling.book(desk, book.request(ada, TUE, "09:00", "09:30", provider=1)).provider_id
        == (book.provider_ids[1])
    )


def test_a_dentist_needs_a_reason_to_book_outside_hours(dentist, book, ada):
    with pytest.raises(OutsideHours, match="give a reason"):
        scheduling.book(dentist, book.request(ada, MON, "12:00", "12:30", reason="   "))
    assert appointments(dentist) == []


def test_with_a_reason_a_dentist_books_outside_hours_and_the_reason_is_stored_and_audited(dentist, book, ada):
    view = scheduling.book(dentist, book.request(ada, MON, "18:00", "19:00", reason=" emergency: broken crown "))
    [row] = appointments(dentist)
    assert (row.id, row.outside_hours_reason) == (view.id, "emergency: broken crown")
    ev = last_event(dentist, "appointment.booked")
    assert (ev.username, ev.entity_id, ev.patient_id) == ("dentist", view.id, ada)
    assert json.loads(ev.details)["outside_hours_reason"] == "emergency: broken crown"


# --- two people at once ---------------------------------------------------------------------


def test_of_two_users_moving_the_same_appointment_the_second_is_told_who_changed_it(desk, dentist, book, ada):
    scheduling.book(desk, book.request(ada, MON, "10:00", "10:30"))
    # both screens show the appointment at version 1
    [seen_by_desk] = scheduling.day_book(desk, book.location_id, MON).appointments
    [seen_by_dentist] = scheduling.day_book(dentist, book.location_id, MON).appointments
    assert seen_by_desk.version == seen_by_dentist.version == 1

    moved = scheduling.move(desk, seen_by_desk.id, seen_by_desk.version, book.at(MON, "14:00"), book.at(MON, "14:30"))
    assert moved.version == 2
    with pytest.raises(StaleAppointment, match="changed by receptionist at") as e:
        scheduling.move(
            dentist, seen_by_dentist.id, seen_by_dentist.version, book.at(MON, "15:00"), book.at(MON, "15:30")
        )
    assert "Try again" in str(e.value)
    with pytest.raises(StaleAppointment):
        scheduling.set_status(dentist, seen_by_dentist.id, seen_by_dentist.version, S.CONFIRMED)
    # the first move stands
    [row] = appointments(desk)
    assert (book.local(row.starts_at).strftime("%H:%M"), row.version) == ("14:00", 2)


def test_two_users_racing_for_one_slot_get_exactly_one_booking(staff, book, ada, charles):
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def attempt(role: Role, patient: str, start: str, end: str, chair: int) -> None:
        ctx = staff[role]
        req = book.request(patient, MON, start, end, chair=chair)
        barrier.wait()
        try:
            results[role.value] = scheduling.book(ctx, req)
        except Exception as e:  # noqa: BLE001 - the test inspects whatever the loser got
            results[role.value] = e

    threads = [
        threading.Thread(target=attempt, args=(R, ada, "10:00", "10:30", 0)),
        threading.Thread(target=attempt, args=(D, charles, "10:10", "10:40", 1)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    won = [r for r in results.values() if isinstance(r, scheduling.AppointmentView)]
    lost = [r for r in results.values() if not isinstance(r, scheduling.AppointmentView)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], DoubleBooking), lost[0]
    assert [a.id for a in appointments(staff[A])] == [won[0].id]


# --- clock-change days ----------------------------------------------------------------------

CLOCK_CHANGES = [
    ("America/New_York", date(2026, 3, 8), 23, "2026-03-08T13:00:00.000000Z"),
    ("America/New_York", date(2026, 11, 1), 25, "2026-11-01T14:00:00.000000Z"),
    ("Europe/London", date(2026, 3, 29), 23, "2026-03-29T08:00:00.000000Z"),
    ("Europe/London", date(2026, 10, 25), 25, "2026-10-25T09:00:00.000000Z"),
    ("Europe/London", date(2026, 10, 26), 24, "2026-10-26T09:00:00.000000Z"),
]


@pytest.mark.parametrize(("tz", "day", "hours", "stored"), CLOCK_CHANGES)
def test_on_clock_change_days_the_day_has_its_real_length_and_nine_oclock_stays_nine(
    admin, desk, ada, tz, day, hours, stored
):
    book = make_book(admin, tz=tz, hours=[(d, "08:00", "17:00") for d in EVERY_DAY])
    scheduling.book(desk, book.request(ada, day, "09:00", "09:30"))
    dbook = scheduling.day_book(desk, book.location_id, day)
    assert dbook.bounds.duration == timedelta(hours=hours)
    [view] = dbook.appointments
    assert (clock(view), view.minutes) == ("09:00-09:30", 30)
    with admin.runtime.sessions() as s:
        assert s.scalar(text("SELECT starts_at FROM appointment")) == stored
    # a working day of 08:00-17:00 less lunch is eight real hours whatever the clocks did
    assert sum((iv.duration for iv in dbook.available[book.provider_ids[0]]), timedelta()) == timedelta(hours=8)


def test_a_visit_across_midnight_on_a_night_shift_is_found_on_both_days(admin, desk, ada):
    book = make_book(admin, tz="Europe/London")
    add_hours(admin, book, 0, 5, "22:00", "06:00")  # Saturday night shift
    sat, sun = date(2026, 10, 24), date(2026, 10, 25)  # London falls back at 02:00 on Sunday
    view = scheduling.book(desk, book.request(ada, sat, "23:30", "00:30", end_day=sun))
    assert (view.starts_at, view.ends_at) == (
        datetime(2026, 10, 24, 22, 30, tzinfo=UTC),
        datetime(2026, 10, 24, 23, 30, tzinfo=UTC),
    )
    for day in (sat, sun):
        assert [v.id for v in scheduling.range_appointments(desk, book.location_id, day, day)] == [view.id]
        assert [v.id for v in scheduling.day_book(desk, book.location_id, day).appointments] == [view.id]
    assert scheduling.range_appointments(desk, book.location_id, date(2026, 10, 26), date(2026, 10, 26)) == []


def test_the_small_hours_of_a_night_shift_begun_the_evening_before_are_working_time(admin, desk, ada):
    book = make_book(admin, tz="America/New_York", lunch=None)
    add_hours(admin, book, 0, 5, "22:00", "06:00")  # Saturday night; New York springs forward on Sunday
    sat, sun = date(2026, 3, 7), date(2026, 3, 8)
    view = scheduling.book(desk, book.request(ada, sun, "00:30", "01:30"))
    assert clock(view) == "00:30-01:30"
    available = scheduling.day_book(desk, book.location_id, sun).available[book.provider_ids[0]]
    # 00:00 EST to 06:00 EDT is five real hours; the clocks skip 02:00-03:00
    assert available[0].duration == timedelta(hours=5)
    assert book.local(available[0].start).strftime("%d %H:%M") == "08 00:00"
    saturday = scheduling.day_book(desk, book.location_id, sat).available[book.provider_ids[0]]
    assert [(book.local(iv.start).strftime("%H:%M"), iv.duration) for iv in saturday] == [("22:00", timedelta(hours=2))]


def test_a_dentist_can_book_across_midnight_with_a_reason_and_both_days_show_it(dentist, admin, ada):
    book = make_book(admin, tz="America/New_York")
    sat, sun = date(2026, 10, 31), date(2026, 11, 1)  # New York falls back at 02:00 on Sunday
    with pytest.raises(OutsideHours):
        scheduling.book(dentist, book.request(ada, sat, "23:30", "00:30", end_day=sun))
    view = scheduling.book(dentist, book.request(ada, sat, "23:30", "00:30", end_day=sun, reason="night emergency"))
    assert view.minutes == 60
    for day in (sat, sun):
        assert [v.id for v in scheduling.range_appointments(dentist, book.location_id, day, day)] == [view.id]


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (datetime(2031, 3, 3, 15, 0, tzinfo=UTC), datetime(2031, 3, 3, 14, 30, tzinfo=UTC), "must end after it starts"),
        (datetime(2031, 3, 3, 15, 0, tzinfo=UTC), datetime(2031, 3, 3, 15, 0, tzinfo=UTC), "must end after it starts"),
        (datetime(2031, 3, 3, 8, 0, tzinfo=UTC), datetime(2031, 3, 3, 20, 10, tzinfo=UTC), "longer than 12 hours"),
        (datetime(2031, 3, 3, 15, 0), datetime(2031, 3, 3, 15, 30, tzinfo=UTC), "start time has no time zone"),
        (datetime(2031, 3, 3, 15, 0, tzinfo=UTC), datetime(2031, 3, 3, 15, 30), "end time has no time zone"),
    ],
    ids=["end before start", "zero length", "over 12 hours", "naive start", "naive end"],
)
def test_impossible_times_are_refused_with_a_message_and_nothing_is_saved(dentist, book, ada, start, end, message):
    req = replace(book.request(ada, MON, "10:00", "10:30"), starts_at=start, ends_at=end, outside_hours_reason="x")
    with pytest.raises(FieldError, match=message):
        scheduling.book(dentist, req)
    good = scheduling.book(dentist, book.request(ada, MON, "10:00", "10:30"))
    with pytest.raises(FieldError, match=message):
        scheduling.move(dentist, good.id, good.version, start, end, outside_hours_reason="x")
    assert [a.version for a in appointments(dentist)] == [1]


def test_a_date_in_year_zero_cannot_be_built_and_typing_one_gives_a_clear_message():
    with pytest.raises(ValueError):
        datetime(0, 1, 1)
    with pytest.raises(FieldError) as e:
        parse_date("0000-01-01")
    assert str(e.value) == "Date: '0000-01-01' is not a real date (there is no 1 January 0)."


# --- the visit workflow ---------------------------------------------------------------------


def test_a_visit_goes_from_scheduled_to_completed_with_each_step_recorded(desk, dentist, book, ada):
    started = utcnow()
    v = scheduling.book(desk, book.request(ada, MON, "10:00", "10:30"))
    for ctx, target in [(desk, S.CONFIRMED), (desk, S.ARRIVED), (dentist, S.SEATED), (dentist, S.COMPLETED)]:
        v = scheduling.set_status(ctx, v.id, v.version, target)
        assert v.status is target
    assert v.version == 5
    history = scheduling.status_history(desk, v.id)
    assert [(h[0], h[1], h[3]) for h in history] == [
        ("scheduled", "confirmed", "Test Receptionist"),
        ("confirmed", "arrived", "Test Receptionist"),
        ("arrived", "seated", "Test Dentist"),
        ("seated", "completed", "Test Dentist"),
    ]
    whens = [h[2] for h in history]
    assert whens == sorted(whens) and started <= whens[0] and whens[-1] <= utcnow()
    with desk.runtime.sessions() as s:
        rows = list(s.scalars(select(AppointmentStatusChange).order_by(AppointmentStatusChange.changed_at)))
    assert {r.changed_by for r in rows} == {desk.actor.user_id, dentist.actor.user_id}


def test_completing_a_cancelled_visit_is_refused(desk, book, ada):
    v = scheduling.book(desk, book.request(ada, MON, "10:00", "10:30"))
    v = scheduling.set_status(desk, v.id, v.version, S.CANCELLED, reason="patient ill")
    with pytest.raises(IllegalTransition) as e:
        scheduling.set_status(desk, v.id, v.version, S.COMPLETED)
    assert str(e.value) == "A cancelled appointment cannot be completed."


def test_a_cancellation_needs_a_reason_which_is_kept(desk, book, ada):
    v = scheduling.book(desk, book.request(ada, MON, "10:00", "10:30"))
    with pytest.raises(UserError, match="Give a reason"):
        scheduling.set_status(desk, v.id, v.version, S.CANCELLED, reason="  ")
    v = scheduling.set_status(desk, v.id, v.version, S.CANCELLED, reason=" patient ill ")
    assert (v.status, v.cancel_reason) == (S.CANCELLED, "patient ill")
    assert scheduling.status_history(desk, v.id)[-1][4] == "patient ill"


def test_the_waiting_room_lists_arrived_patients_longest_wait_first(desk, book, ada, charles, grace):
    a = scheduling.book(desk, book.request(ada, MON, "10:00", "10:30", provider=0, chair=0))
    c = scheduling.book(desk, book.request(charles, MON, "10:00", "10:30", provider=1, chair=1))
    g = scheduling.book(desk, book.request(grace, MON, "11:00", "11:30", provider=0, chair=0))
    c = scheduling.set_status(desk, c.id, c.version, S.ARRIVED)
    a = scheduling.set_status(desk, a.id, a.version, S.ARRIVED)
    g = scheduling.set_status(desk, g.id, g.version, S.ARRIVED)
    g = scheduling.set_status(desk, g.id, g.version, S.SEATED)
    now = utcnow()
    with desk.uow() as uow:
        for appt, waited in ((a, 25), (c, 5)):
            uow.session.execute(
                text("UPDATE appointment_status_change SET changed_at = :at WHERE appointment_id = :id"),
                {"at": (now - minutes(waited)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "id": appt.id},
            )
        uow.commit()
    room = scheduling.waiting_room(desk, book.location_id, now=now)
    assert [(v.patient_name, wait) for v, wait in room] == [
        ("Lovelace, Ada", minutes(25)),
        ("Babbage, Charles", minutes(5)),
    ]


@pytest.mark.parametrize(("steps", "name"), [((S.ARRIVED, S.SEATED), "A seated"), ((S.ARRIVED,), "An arrived")])
def test_a_visit_under_way_cannot_be_moved_or_pinboarded(desk, dentist, book, ada, steps, name):
    v = scheduling.book(desk, book.request(ada, MON, "10:00", "10:30"))
    for target in steps:
        v = scheduling.set_status(dentist, v.id, v.version, target)
    with pytest.raises(UserError, match=f"^{name} appointment cannot be moved.$"):
        scheduling.move(desk, v.id, v.version, book.at(MON, "11:00"), book.at(MON, "11:30"))
    with pytest.raises(UserError, match="pinboard"):
        scheduling.to_pinboard(desk, v.id, v.version)


def test_a_completed_visit_cannot_be_moved(dentist, book, ada):
    v = scheduling.book(dentist, book.request(ada, MON, "10:00", "10:30"))
    for target in (S.ARRIVED, S.SEATED, S.COMPLETED):
        v = scheduling.set_status(dentist, v.id, v.version, target)
    with pytest.raises(UserError, match="^A completed appointment cannot be moved.$"):
        scheduling.move(dentist, v.id, v.version, book.at(MON, "11:00"), book.at(MON, "11:30"))


def test_a_visit_on_the_pinboard_cannot_be_checked_in_until_it_has_a_time(desk, book, ada):
    v = scheduling.book(desk, book.request(ada, MON, "10:00", "10:30"))
    v = scheduling.to_pinboard(desk, v.id, v.version)
    with pytest.raises(UserError, match="give it a time on the book first"):
        scheduling.set_status(desk, v.id, v.version, S.ARRIVED)


# --- finding the next free slot ---------------------------------------------------------------


def starts(options: list) -> list[str]:  # type: ignore[type-arg]
    return [o.start.astimezone(ZoneInfo("America/New_York")).strftime("%a %H:%M") for o in options]


def query(book: Book, first: date, last: date | None = None, **kw: object) -> SlotQuery:
    kw.setdefault("provider_ids", (book.provider_ids[0],))
    return SlotQuery(book.location_id, minutes(60), first, last or first, **kw)  # type: ignore[arg-type]


def test_next_available_offers_every_hour_long_start_around_lunch(desk, book):
    options = scheduling.next_available(desk, query(book, MON, limit=100))
    # 08:00..11:00 and 13:00..16:00 on the ten-minute grid: 19 starts each side of lunch
    assert len(options) == 38
    assert starts(options)[:3] == ["Mon 08:00", "Mon 08:10", "Mon 08:20"]
    assert starts(options)[18:20] == ["Mon 11:00", "Mon 13:00"]
    assert starts(options)[-1] == "Mon 16:00"
    first = options[0]
    assert (first.operatory_id, first.reason) == (book.chair_ids[0], "Mon 3 Mar 08:00 with Dr Provider 1 in Op 1")


def test_next_available_skips_bookings_and_vacations(admin, desk, book, ada):
    scheduling.book(desk, book.request(ada, MON, "08:00", "10:00"))
    assert starts(scheduling.next_available(desk, query(book, MON, limit=2))) == ["Mon 10:00", "Mon 10:10"]
    add_block(admin, book, book.at(MON, "00:00"), book.at(TUE, "00:00"), provider=0)
    assert starts(scheduling.next_available(desk, query(book, MON, TUE, limit=1))) == ["Tue 08:00"]


def test_next_available_picks_a_free_chair_or_waits_for_the_one_asked_for(admin, desk, book, ada, charles):
    scheduling.book(desk, book.request(charles, MON, "08:00", "09:00", provider=1, chair=0))
    [option] = scheduling.next_available(desk, query(book, MON, limit=1))
    assert (starts([option]), option.operatory_id) == (["Mon 08:00"], book.chair_ids[1])
    only_op1 = query(book, MON, limit=1, operatory_ids=(book.chair_ids[0],))
    assert starts(scheduling.next_available(desk, only_op1)) == ["Mon 09:00"]
    # a chair out of service all morning is not offered either
    add_block(admin, book, book.at(MON, "00:00"), book.at(MON, "10:00"), provider=None, chair=1)
    add_block(admin, book, book.at(MON, "00:00"), book.at(MON, "10:00"), provider=None, chair=2)
    assert starts(scheduling.next_available(desk, query(book, MON, limit=1))) == ["Mon 09:00"]


def test_next_available_avoids_times_the_patient_is_already_booked(desk, book, ada):
    scheduling.book(desk, book.request(ada, MON, "08:00", "09:00", provider=1, chair=1))
    assert starts(scheduling.next_available(desk, query(book, MON, limit=1))) == ["Mon 08:00"]
    assert starts(scheduling.next_available(desk, query(book, MON, limit=1, patient_id=ada))) == ["Mon 09:00"]


def test_next_available_keeps_to_mornings_only_and_not_fridays(desk, book, ada):
    scheduling.book(desk, book.request(ada, THU, "08:00", "12:00"))
    assert starts(scheduling.next_available(desk, query(book, THU, NEXT_MON, limit=1))) == ["Thu 13:00"]
    wishes = SlotPreference(mornings_only=True, excluded_weekdays=frozenset({4}))
    options = scheduling.next_available(desk, query(book, THU, NEXT_MON, limit=2, prefer=wishes))
    # the weekend has no hours, and Monday is after the spring-forward Sunday: still 08:00 local
    assert starts(options) == ["Mon 08:00", "Mon 08:10"]
    assert options[0].start == datetime(2031, 3, 10, 12, 0, tzinfo=UTC)


def test_book_slot_books_the_chosen_option_in_one_step(desk, book, ada):
    [option] = scheduling.next_available(desk, query(book, MON, limit=1, patient_id=ada))
    view = scheduling.book_slot(desk, option, patient_id=ada, location_id=book.location_id, note="first visit")
    assert (view.starts_at, view.ends_at, view.operatory_id, view.note) == (
        option.start,
        option.end,
        option.operatory_id,
        "first visit",
    )
    assert starts(scheduling.next_available(desk, query(book, MON, limit=1))) == ["Mon 09:00"]


# --- reading the book ---------------------------------------------------------------------


def test_month_capacity_counts_bookable_and_booked_minutes_per_day(admin, desk, book, ada, charles):
    scheduling.book(desk, book.request(ada, TUE, "09:00", "09:30", provider=0))
    scheduling.book(desk, book.request(charles, TUE, "14:00", "15:00", provider=1, chair=1))
    gone = scheduling.book(desk, book.request(ada, TUE, "10:00", "11:00", provider=0))
    scheduling.set_status(desk, gone.id, gone.version, S.CANCELLED, reason="patient ill")
    add_block(admin, book, book.at(WED, "00:00"), book.at(THU, "00:00"), provider=1)
    cap = scheduling.month_capacity(desk, book.location_id, 2031, 3)
    # two providers, 08:00-17:00 less an hour's lunch: 480 minutes each
    week = {d: cap.get(d) for d in (MON + timedelta(days=n) for n in range(8))}
    assert week == {
        MON: (960, 0),
        TUE: (960, 90),
        WED: (480, 0),
        THU: (960, 0),
        FRI: (960, 0),
        date(2031, 3, 8): None,
        date(2031, 3, 9): None,  # a Sunday, and the day the clocks change
        NEXT_MON: (960, 0),
    }
    assert min(cap) == date(2031, 3, 3) and max(cap) == date(2031, 3, 31) and len(cap) == 21


def test_patient_appointments_lists_future_past_and_cancelled_visits_and_is_audited(desk, book, ada):
    past = scheduling.book(desk, book.request(ada, date(2026, 1, 5), "09:00", "09:30"))
    future = scheduling.book(desk, book.request(ada, MON, "09:00", "09:30"))
    cancelled = scheduling.book(desk, book.request(ada, TUE, "09:00", "09:30"))
    scheduling.set_status(desk, cancelled.id, cancelled.version, S.CANCELLED, reason="moved away")
    listed = scheduling.patient_appointments(desk, ada)
    assert [(v.id, v.status) for v in listed] == [
        (cancelled.id, S.CANCELLED),
        (future.id, S.SCHEDULED),
        (past.id, S.SCHEDULED),
    ]
    ev = last_event(desk, "patient.appointments_viewed")
    assert (ev.patient_id, ev.username) == (ada, "receptionist")


# --- permissions --------------------------------------------------------------------------

# role -> (may read the book, may book and move, may book outside hours with a reason)
EXPECTED: dict[Role, tuple[bool, bool, bool]] = {
    D: (True, True, True),
    H: (True, False, False),
    R: (True, True, False),
    A: (True, True, True),
}


def test_the_permission_table_is_what_the_practice_expects():
    held = {
        role: tuple(
            s in ROLE_SCOPES[role]
            for s in (Scope.APPOINTMENTS_READ, Scope.APPOINTMENTS_WRITE, Scope.APPOINTMENTS_OVERRIDE_HOURS)
        )
        for role in Role
    }
    assert held == EXPECTED


@pytest.mark.parametrize("role", list(Role))
def test_each_role_can_do_exactly_what_the_table_says_on_the_book(staff, book, ada, role):
    ctx = staff[role]
    may_read, may_write, may_override = EXPECTED[role]
    assert scheduling.day_book(ctx, book.location_id, MON).appointments == ()
    assert len(scheduling.next_available(ctx, query(book, MON, limit=1))) == 1
    inside = book.request(ada, MON, "09:00", "09:30")
    outside = book.request(ada, MON, "18:00", "18:30", reason="emergency")
    if not may_write:
        for req in (inside, outside):
            with pytest.raises(PermissionDenied, match=r"appointments:write"):
                scheduling.book(ctx, req)
        assert last_event(ctx, "permission.denied").username == role.value
        assert appointments(ctx) == []
        return
    v = scheduling.book(ctx, inside)
    scheduling.set_status(ctx, v.id, v.version, S.CONFIRMED)
    if may_override:
        assert scheduling.book(ctx, outside).status is S.SCHEDULED
    else:
        with pytest.raises(OutsideHours):
            scheduling.book(ctx, outside)


def test_a_hygienist_cannot_move_or_cancel_a_booking(staff, book, ada):
    v = scheduling.book(staff[R], book.request(ada, MON, "09:00", "09:30"))
    with pytest.raises(PermissionDenied):
        scheduling.move(staff[H], v.id, v.version, book.at(MON, "10:00"), book.at(MON, "10:30"))
    with pytest.raises(PermissionDenied):
        scheduling.set_status(staff[H], v.id, v.version, S.CANCELLED, reason="ill")
    with pytest.raises(PermissionDenied):
        scheduling.to_pinboard(staff[H], v.id, v.version)
    assert [a.version for a in appointments(staff[R])] == [1]


# --- the trail every change leaves ------------------------------------------------------------


def test_every_change_writes_the_change_log_and_an_audit_event(desk, book, ada):
    def log_since(seq: int) -> list[tuple[str, str, int]]:
        with desk.runtime.sessions() as s:
            rows = s.scalars(select(ChangeLog).where(ChangeLog.seq > seq).order_by(ChangeLog.seq))
            return [(r.table_name, r.operation, r.row_version) for r in rows]

    def events_since(seq: int) -> list[tuple[str, str]]:
        with desk.runtime.sessions() as s:
            rows = s.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq))
            return [(e.action, e.entity_id) for e in rows]

    def marks() -> tuple[int, int]:
        with desk.runtime.sessions() as s:
            return s.scalar(func.max(ChangeLog.seq)) or 0, s.scalar(func.max(AuditEvent.seq)) or 0

    log, ev = marks()
    v = scheduling.book(desk, book.request(ada, MON, "09:00", "09:30"))
    assert log_since(log) == [("appointment", "insert", 1)]
    assert events_since(ev) == [("appointment.booked", v.id)]

    log, ev = marks()
    v = scheduling.move(desk, v.id, v.version, book.at(MON, "10:00"), book.at(MON, "10:45"))
    assert log_since(log) == [("appointment", "update", 2)]
    assert events_since(ev) == [("appointment.moved", v.id)]
    details = json.loads(last_event(desk, "appointment.moved").details)
    assert details["before"]["starts_at"].startswith("2031-03-03 14:00")
    assert details["after"]["ends_at"].startswith("2031-03-03 15:45")

    log, ev = marks()
    v = scheduling.set_status(desk, v.id, v.version, S.CONFIRMED)
    assert sorted(log_since(log)) == [("appointment", "update", 3), ("appointment_status_change", "insert", 1)]
    assert events_since(ev) == [("appointment.status_changed", v.id)]

    log, ev = marks()
    v = scheduling.to_pinboard(desk, v.id, v.version)
    # it was confirmed: the lapsed confirmation is written to the history too
    assert log_since(log) == [("appointment_status_change", "insert", 1), ("appointment", "update", 4)]
    assert events_since(ev) == [("appointment.pinboarded", v.id)]


def test_a_refused_booking_leaves_no_trace_in_the_change_log(desk, book, ada, charles):
    scheduling.book(desk, book.request(ada, MON, "09:00", "09:30"))
    with desk.runtime.sessions() as s:
        before = s.scalar(select(func.count()).select_from(ChangeLog))
    with pytest.raises(DoubleBooking):
        scheduling.book(desk, book.request(charles, MON, "09:00", "09:30"))
    with desk.runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ChangeLog)) == before


# --- property: no sequence of changes stores a double booking --------------------------------


class Clinic:
    """One clinic for the whole property test; each example starts from an empty book."""

    def __init__(self, desk: Ctx, dentist: Ctx, book: Book, patients: list[str]) -> None:
        self.desk, self.dentist, self.book, self.patients = desk, dentist, book, patients


@pytest.fixture(scope="module")
def clinic(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    rt = open_copy(template, tmp_path_factory.mktemp("prop") / "clinic")
    try:
        ctx = contexts(rt, template)
        book = make_book(ctx[A], chairs=2, providers=2)
        patients = [add_patient(ctx[A], f"Patient{i}", "Property") for i in range(3)]
        yield Clinic(ctx[R], ctx[D], book, patients)
    finally:
        rt.close()
        keyring.set_keyring(previous)


# a crowded morning, 07:30-12:30 on the ten-minute grid, so clashes are common; its edges lie
# outside the 08:00-17:00 hours and over the 12:00 lunch, where only an override books
GRID_SLOTS = 5 * 6
slot = st.integers(0, GRID_SLOTS - 1)
length = st.integers(1, 6)  # ten minutes to an hour
which = st.integers(0, 7)  # an appointment made earlier in the sequence (wrapped round)
place = st.tuples(st.integers(0, 1), st.one_of(st.none(), st.integers(0, 1)), st.integers(0, 1), slot, length)
booking = st.tuples(st.just("book"), st.integers(0, 2), place, st.booleans())
operations = st.lists(
    st.one_of(
        booking,
        booking,  # twice: most sequences should fill the book before changing it
        st.tuples(st.just("move"), which, place, st.booleans()),
        st.tuples(st.just("resize"), which, length, st.booleans()),
        st.tuples(st.just("cancel"), which),
        st.tuples(st.just("pinboard"), which),
        st.tuples(st.just("confirm"), which),
    ),
    min_size=6,
    max_size=20,
)


def _when(book: Book, day: int, start: int, slots: int) -> tuple[datetime, datetime]:
    begin = book.at(MON + timedelta(days=day), "07:30") + minutes(10 * start)
    return begin, begin + minutes(10 * slots)


OVERLAPS = text(
    """
    SELECT count(*) FROM appointment a JOIN appointment b ON a.id < b.id
    WHERE a.deleted_at IS NULL AND b.deleted_at IS NULL AND a.on_pinboard = 0 AND b.on_pinboard = 0
      AND a.starts_at IS NOT NULL AND b.starts_at IS NOT NULL
      AND a.status IN ('scheduled', 'confirmed', 'arrived', 'seated', 'completed')
      AND b.status IN ('scheduled', 'confirmed', 'arrived', 'seated', 'completed')
      AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
      AND (a.provider_id = b.provider_id OR a.patient_id = b.patient_id
           OR (a.operatory_id IS NOT NULL AND a.operatory_id = b.operatory_id))
    """
)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(ops=operations)
def test_no_sequence_of_books_moves_and_resizes_ever_leaves_two_overlapping_appointments(clinic, ops):
    book = clinic.book
    clear_appointments(clinic.desk)
    made: list[str] = []
    fallbacks = 0

    def current(index: int) -> Appointment | None:
        if not made:
            return None
        with clinic.desk.runtime.sessions() as s:
            return s.get(Appointment, made[index % len(made)])

    for op in ops:
        try:
            if op[0] == "book":
                _, patient, (provider, chair, day, start, slots), override = op
                begin, end = _when(book, day, start, slots)
                ctx = clinic.dentist if override else clinic.desk
                req = scheduling.BookingRequest(
                    patient_id=clinic.patients[patient],
                    provider_id=book.provider_ids[provider],
                    location_id=book.location_id,
                    starts_at=begin,
                    ends_at=end,
                    operatory_id=None if chair is None else book.chair_ids[chair],
                    outside_hours_reason="patient asked" if override else "",
                )
                made.append(scheduling.book(ctx, req).id)
                event("book: done")
                continue
            a = current(op[1])
            if a is None:
                continue
            if op[0] == "move":
                _, _, (provider, chair, day, start, slots), override = op
                begin, end = _when(book, day, start, slots)
                scheduling.move(
                    clinic.dentist if override else clinic.desk,
                    a.id,
                    a.version,
                    begin,
                    end,
                    provider_id=book.provider_ids[provider],
                    operatory_id=None if chair is None else book.chair_ids[chair],
                    outside_hours_reason="patient asked" if override else "",
                )
            elif op[0] == "resize":
                _, _, slots, override = op
                if a.starts_at is None:
                    continue
                scheduling.move(
                    clinic.dentist if override else clinic.desk,
                    a.id,
                    a.version,
                    a.starts_at,
                    a.starts_at + minutes(10 * slots),
                    outside_hours_reason="patient asked" if override else "",
                )
            elif op[0] == "cancel":
                scheduling.set_status(clinic.desk, a.id, a.version, S.CANCELLED, reason="patient ill")
            elif op[0] == "pinboard":
                scheduling.to_pinboard(clinic.desk, a.id, a.version)
            elif op[0] == "confirm":
                scheduling.set_status(clinic.desk, a.id, a.version, S.CONFIRMED)
            event(f"{op[0]}: done")
        except UserError as e:
            event(f"{op[0]}: {type(e).__name__}")
            # the database's own refusal should never be needed when one person works alone
            if "just taken" in str(e):
                fallbacks += 1
    with clinic.desk.runtime.sessions() as s:
        assert s.scalar(OVERLAPS) == 0
    assert fallbacks == 0, "the service let a clash through to the database"
