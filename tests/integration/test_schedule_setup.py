"""Setting up the appointment book: each rule refuses bad input with a clear message, and only administrators may."""

import json
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.db.models import AuditEvent, ChangeLog, Location, Operatory, WeeklyHoursRow
from app.domain.errors import ValidationError
from app.domain.permissions import Role
from app.domain.scheduling import local_to_utc
from app.services import schedule_setup as setup
from app.services import scheduling
from app.services.context import PermissionDenied
from app.services.schedule_setup import AppointmentTypeInput, BlockInput, LocationInput

WEEK = [(wd, "08:00", "12:00") for wd in range(5)] + [(wd, "13:00", "17:00") for wd in range(5)]


@pytest.fixture
def admin(staff):  # type: ignore[no-untyped-def]
    return staff[Role.ADMINISTRATOR]


@pytest.fixture
def location(admin):  # type: ignore[no-untyped-def]
    loc = setup.save_location(admin, LocationInput("Main St", "America/New_York", "1 Main St", "(212) 555-0142", 10))
    for n in (1, 2):
        setup.add_operatory(admin, loc.id, f"Op {n}")
    return setup.list_locations(admin)[0]


@pytest.fixture
def dentist_id(admin, staff) -> str:  # type: ignore[no-untyped-def]
    return next(p.id for p in setup.list_providers(admin) if p.role is Role.DENTIST)


def _messages(excinfo: pytest.ExceptionInfo[ValidationError]) -> dict[str, str]:
    return excinfo.value.messages()


def _events(runtime, action: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        return [json.loads(e.details) for e in s.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def test_a_location_is_saved_audited_and_listed_with_its_chairs(admin, location) -> None:  # type: ignore[no-untyped-def]
    assert location.name == "Main St" and location.time_zone == "America/New_York"
    assert location.phone == "+12125550142"
    assert [o.name for o in location.operatories] == ["Op 1", "Op 2"]
    changed = setup.save_location(
        admin, LocationInput("Main Street", "America/Chicago", grid_minutes=15), location.id, location.version
    )
    assert (changed.name, changed.time_zone, changed.grid_minutes) == ("Main Street", "America/Chicago", 15)
    saved = _events(admin.runtime, "schedule.location_saved")
    assert saved[-1]["before"]["time_zone"] == "America/New_York"
    assert saved[-1]["after"]["time_zone"] == "America/Chicago"


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (LocationInput("", "America/New_York"), "name", "name"),
        (LocationInput("X", "Mars/Olympus_Mons"), "time_zone", "not a time zone"),
        (LocationInput("X", "../etc/passwd"), "time_zone", "not a time zone"),
        (LocationInput("X", "localtime"), "time_zone", "not a time zone"),
        (LocationInput("X", ""), "time_zone", "time zone"),
        (LocationInput("X", "Europe/London", grid_minutes=7), "grid_minutes", "5, 10 or 15"),
        (LocationInput("X", "Europe/London", phone="12"), "phone", "phone"),
    ],
)
def test_a_location_with_bad_fields_is_refused(admin, data, field, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as e:
        setup.save_location(admin, data)
    assert words in _messages(e)[field]
    assert setup.list_locations(admin) == []


def test_two_locations_cannot_share_a_name(admin, location) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as e:
        setup.save_location(admin, LocationInput("main st", "Europe/London"))
    assert "already a location" in _messages(e)["name"]


def test_chairs_are_added_renamed_reordered_and_deactivated(admin, location) -> None:  # type: ignore[no-untyped-def]
    op3 = setup.add_operatory(admin, location.id, "Op 3")
    assert op3.sort_order == 2
    with pytest.raises(ValidationError) as e:
        setup.add_operatory(admin, location.id, "op 1")
    assert "already has a chair" in _messages(e)["name"]
    setup.rename_operatory(admin, op3.id, "Hygiene room")
    ids = [o.id for o in setup.list_locations(admin)[0].operatories]
    reordered = setup.reorder_operatories(admin, location.id, list(reversed(ids)))
    assert [o.name for o in reordered] == ["Hygiene room", "Op 2", "Op 1"]
    off = setup.set_operatory_active(admin, op3.id, False)
    assert not off.active
    assert op3.id not in [r.id for r in _resources(admin, location.id)]
    with admin.runtime.sessions() as s:
        assert s.get(Operatory, op3.id) is not None  # never hard-deleted
    assert _events(admin.runtime, "schedule.operatory_renamed")[0]["after"] == {"name": "Hygiene room"}


def _resources(ctx, location_id):  # type: ignore[no-untyped-def]
    with ctx.uow(write=False) as uow:
        return scheduling.operatories(uow.session, location_id)


def test_a_chair_with_bookings_to_come_cannot_be_taken_out_of_use(admin, location, dentist_id) -> None:  # type: ignore[no-untyped-def]
    from app.domain.patients import PatientInput
    from app.services import patients

    setup.set_provider_hours(admin, location.id, dentist_id, [(wd, "08:00", "17:00") for wd in range(7)])
    p = patients.register(admin, PatientInput(first_name="Ada", last_name="Lovelace", date_of_birth="1990-01-02"))
    options = scheduling.next_available(
        admin,
        scheduling.SlotQuery(
            location.id, timedelta(minutes=30), date.today() + timedelta(days=1), date.today() + timedelta(days=8)
        ),
    )
    booked = scheduling.book_slot(admin, options[0], patient_id=p.id, location_id=location.id)
    with pytest.raises(Exception, match="still to come"):
        setup.set_operatory_active(admin, booked.operatory_id, False)


def test_provider_hours_replace_the_whole_week(admin, location, dentist_id) -> None:  # type: ignore[no-untyped-def]
    week = setup.set_provider_hours(admin, location.id, dentist_id, WEEK)
    assert len(week) == 10 and week[0].label == "Monday 08:00–12:00"
    # a new week replaces the old one entirely: Friday off, Saturday morning on
    new = [(wd, "09:00", "17:00") for wd in range(4)] + [(5, "8:00", "13:00")]
    setup.set_provider_hours(admin, location.id, dentist_id, new)
    assert [(h.weekday, h.start, h.end) for h in setup.provider_hours(admin, location.id, dentist_id)] == [
        (0, "09:00", "17:00"),
        (1, "09:00", "17:00"),
        (2, "09:00", "17:00"),
        (3, "09:00", "17:00"),
        (5, "08:00", "13:00"),
    ]
    with admin.runtime.sessions() as s:
        rows = list(s.scalars(select(WeeklyHoursRow).where(WeeklyHoursRow.provider_id == dentist_id)))
        assert len([r for r in rows if r.deleted_at is not None]) == 10  # tombstoned, not deleted
        deletes = list(s.scalars(select(ChangeLog).where(ChangeLog.operation == "delete")))
        assert len(deletes) == 10
    saved = _events(admin.runtime, "schedule.provider_hours_saved")[-1]
    assert "Friday 08:00–12:00" in saved["before"] and "Saturday 08:00–13:00" in saved["after"]
    # saving the same week again changes nothing and audits nothing
    setup.set_provider_hours(admin, location.id, dentist_id, new)
    assert len(_events(admin.runtime, "schedule.provider_hours_saved")) == 2


@pytest.mark.parametrize(
    ("week", "words"),
    [
        ([(0, "17:00", "08:00")], "must end after it starts"),
        ([(0, "09:00", "09:00")], "must end after it starts"),
        ([(0, "08:00", "12:00"), (0, "11:00", "15:00")], "overlap"),
        ([(0, "8am", "12:00")], "not a time"),
        ([(0, "08:00", "24:30")], "not a time"),
        ([(7, "08:00", "12:00")], "0 (Monday) to 6 (Sunday)"),
    ],
)
def test_bad_provider_hours_are_refused_and_the_old_week_kept(admin, location, dentist_id, week, words) -> None:  # type: ignore[no-untyped-def]
    setup.set_provider_hours(admin, location.id, dentist_id, WEEK)
    with pytest.raises(ValidationError) as e:
        setup.set_provider_hours(admin, location.id, dentist_id, week)
    assert words in str(e.value)
    assert len(setup.provider_hours(admin, location.id, dentist_id)) == 10


def test_hours_only_for_dentists_and_hygienists(admin, location, staff) -> None:  # type: ignore[no-untyped-def]
    receptionist_id = staff[Role.RECEPTIONIST].actor.user_id
    with pytest.raises(Exception, match="not a dentist or hygienist"):
        setup.set_provider_hours(admin, location.id, receptionist_id, WEEK)


def test_hours_exceptions_closed_or_other_hours(admin, location, dentist_id) -> None:  # type: ignore[no-untyped-def]
    day = date.today() + timedelta(days=10)
    closed = setup.add_hours_exception(admin, location.id, day, note="Thanksgiving")
    assert closed.closed and closed.provider_name == ""
    with pytest.raises(ValidationError) as e:
        setup.add_hours_exception(admin, location.id, day, start="09:00", end="12:00")
    assert "already has an exception" in str(e.value)
    other = setup.add_hours_exception(admin, location.id, day, provider_id=dentist_id, start="10:00", end="14:00")
    assert not other.closed and other.start == "10:00"
    with pytest.raises(ValidationError) as e:
        setup.add_hours_exception(admin, location.id, day, provider_id=dentist_id, start="13:00", end="15:00")
    assert "overlap" in str(e.value)
    with pytest.raises(ValidationError) as e:
        setup.add_hours_exception(admin, location.id, day + timedelta(days=1), start="15:00", end="14:00")
    assert "end after they start" in str(e.value)
    assert [x.day for x in setup.list_hours_exceptions(admin, location.id)] == [day, day]
    setup.remove_hours_exception(admin, closed.id)
    assert [x.id for x in setup.list_hours_exceptions(admin, location.id)] == [other.id]


def test_a_vacation_block_is_whole_local_days_and_next_available_skips_them(admin, location, dentist_id) -> None:  # type: ignore[no-untyped-def]
    setup.set_provider_hours(admin, location.id, dentist_id, [(wd, "08:00", "17:00") for wd in range(7)])
    first = date.today() + timedelta(days=1)
    last = first + timedelta(days=4)
    block = setup.add_block(
        admin, BlockInput(location.id, "vacation", provider_id=dentist_id, first_day=first, last_day=last, note="Away")
    )
    tz = ZoneInfo("America/New_York")
    assert block.starts_at == local_to_utc(first, time(0), tz)
    assert block.ends_at == local_to_utc(last + timedelta(days=1), time(0), tz)
    assert "all day" in block.when and block.who
    options = scheduling.next_available(
        admin,
        scheduling.SlotQuery(
            location.id, timedelta(hours=1), first, first + timedelta(days=10), provider_ids=(dentist_id,)
        ),
    )
    assert options
    assert all(o.start.astimezone(tz).date() > last for o in options)


def test_weekly_and_one_off_blocks_and_their_rules(admin, location, dentist_id) -> None:  # type: ignore[no-untyped-def]
    lunch = setup.add_block(
        admin,
        BlockInput(location.id, "lunch", provider_id=dentist_id, weekday=0, start_local="12:00", end_local="13:00"),
    )
    assert lunch.weekly and lunch.when == "Every Monday 12:00–13:00"
    chair = location.operatories[0]
    meeting = setup.add_block(
        admin,
        BlockInput(
            location.id,
            "emergencies_only",
            operatory_id=chair.id,
            first_day=date(2030, 3, 5),
            start_local="09:00",
            end_local="11:00",
        ),
    )
    assert meeting.who == "Op 1" and meeting.when.endswith("09:00–11:00")
    bad = [
        (
            BlockInput(
                location.id, "vacation", provider_id=dentist_id, weekday=1, start_local="08:00", end_local="17:00"
            ),
            "dates",
        ),
        (BlockInput(location.id, "nap", first_day=date(2030, 1, 1)), "Choose what the block is"),
        (BlockInput(location.id, "lunch", weekday=2, start_local="13:00", end_local="12:00"), "end after it starts"),
        (BlockInput(location.id, "meeting", first_day=date(2030, 1, 2), last_day=date(2030, 1, 1)), "before the first"),
        (BlockInput(location.id, "meeting"), "first day"),
        (
            BlockInput(
                location.id, "meeting", provider_id=dentist_id, operatory_id=chair.id, first_day=date(2030, 1, 1)
            ),
            "not both",
        ),
    ]
    for data, words in bad:
        with pytest.raises(ValidationError) as e:
            setup.add_block(admin, data)
        assert words in str(e.value), data
    assert len(setup.list_blocks(admin, location.id)) == 2
    setup.remove_block(admin, lunch.id)
    assert [b.id for b in setup.list_blocks(admin, location.id)] == [meeting.id]
    assert _events(admin.runtime, "schedule.block_removed")[0]["before"]["kind"] == "lunch"


def test_appointment_types_are_checked_saved_and_deactivated(admin) -> None:  # type: ignore[no-untyped-def]
    t = setup.save_appointment_type(admin, AppointmentTypeInput("Filling", 45, "#fb8c00", ("d2391", " D2392 ")))
    assert (t.colour, t.default_procedures) == ("#FB8C00", ("D2391", "D2392"))
    for data, field, words in [
        (AppointmentTypeInput("", 45, "#FB8C00"), "name", "name"),
        (AppointmentTypeInput("Crown", 47, "#FB8C00"), "default_minutes", "steps of 5"),
        (AppointmentTypeInput("Crown", 0, "#FB8C00"), "default_minutes", "steps of 5"),
        (AppointmentTypeInput("Crown", 60, "orange"), "colour", "#RRGGBB"),
        (AppointmentTypeInput("Crown", 60, "#12345"), "colour", "#RRGGBB"),
        (AppointmentTypeInput("Crown", 60, "#123456", ("D27 40",)), "default_procedures", "procedure code"),
        (AppointmentTypeInput("filling", 60, "#123456"), "name", "already"),
    ]:
        with pytest.raises(ValidationError) as e:
            setup.save_appointment_type(admin, data)
        assert words in _messages(e)[field], data
    changed = setup.save_appointment_type(admin, AppointmentTypeInput("Filling", 60, "#FB8C00", ("D2391",)), t.id)
    assert changed.default_minutes == 60
    assert _events(admin.runtime, "schedule.appointment_type_saved")[-1]["before"]["default_minutes"] == 45
    setup.set_appointment_type_active(admin, t.id, False)
    assert setup.list_appointment_types(admin, include_inactive=False) == []
    assert [x.active for x in setup.list_appointment_types(admin)] == [False]


@pytest.mark.parametrize("role", [Role.RECEPTIONIST, Role.DENTIST, Role.HYGIENIST])
def test_only_administrators_change_the_set_up(staff, location, dentist_id, role) -> None:  # type: ignore[no-untyped-def]
    ctx = staff[role]
    attempts = [
        lambda: setup.save_location(ctx, LocationInput("Other", "Europe/London")),
        lambda: setup.add_operatory(ctx, location.id, "Op 9"),
        lambda: setup.set_provider_hours(ctx, location.id, dentist_id, WEEK),
        lambda: setup.add_block(
            ctx, BlockInput(location.id, "lunch", weekday=0, start_local="12:00", end_local="13:00")
        ),
        lambda: setup.save_appointment_type(ctx, AppointmentTypeInput("X", 30, "#000000")),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    # but everyone who reads the book can see how it is set up
    assert [loc.name for loc in setup.list_locations(ctx)] == ["Main St"]
    assert setup.provider_hours(ctx, location.id, dentist_id) == []
    with staff[Role.ADMINISTRATOR].runtime.sessions() as s:
        assert len(list(s.scalars(select(Location)))) == 1
