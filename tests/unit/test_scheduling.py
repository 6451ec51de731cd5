"""The appointment book's rules: intervals, working hours over clock changes, free slots, visit states, recalls."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.errors import FieldError, UserError
from app.domain.scheduling import (
    ALLOWED,
    MISMATCH_PENALTY_MINUTES,
    PROVIDER_PENALTY_MINUTES,
    Interval,
    RecallRule,
    SlotOption,
    SlotPreference,
    VisitStatus,
    WeeklyHours,
    add_months,
    find_slots,
    grid_times,
    is_active,
    local_day_bounds,
    local_to_utc,
    make_interval,
    merge,
    recall_due,
    recall_state,
    subtract,
    transition,
    working_intervals,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
S = VisitStatus


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def iv(a: datetime, b: datetime) -> Interval:
    return Interval(a, b)


def hm(text: str) -> time:
    return time.fromisoformat(text)


# --- March 2026 in London is on GMT until the 29th, so local time equals UTC in these cases


def at(day: int, clock: str, tz: ZoneInfo = LONDON, month: int = 3) -> datetime:
    return local_to_utc(date(2026, month, day), hm(clock), tz)


def span(day: int, start: str, end: str, tz: ZoneInfo = LONDON, month: int = 3) -> Interval:
    return Interval(at(day, start, tz, month), at(day, end, tz, month))


def starts(options: list[SlotOption], tz: ZoneInfo = LONDON) -> list[str]:
    return [f"{o.start.astimezone(tz):%a %H:%M}" for o in options]


# --- intervals -------------------------------------------------------------------------


def test_an_appointment_ending_before_it_starts_is_refused_with_a_message_on_the_end_field():
    with pytest.raises(FieldError) as e:
        make_interval(utc(2026, 3, 3, 10), utc(2026, 3, 3, 9))
    assert e.value.field == "end"
    assert e.value.message == "The appointment must end after it starts."


def test_a_zero_length_appointment_is_refused():
    with pytest.raises(FieldError, match="must end after it starts"):
        make_interval(utc(2026, 3, 3, 10), utc(2026, 3, 3, 10))


def test_an_appointment_longer_than_twelve_hours_is_refused():
    with pytest.raises(FieldError, match="longer than 12 hours") as e:
        make_interval(utc(2026, 3, 3, 8), utc(2026, 3, 3, 20, 1))
    assert e.value.field == "end"


def test_an_appointment_of_exactly_twelve_hours_is_accepted():
    assert make_interval(utc(2026, 3, 3, 8), utc(2026, 3, 3, 20)).duration == 12 * HOUR


def test_times_without_a_time_zone_are_refused_on_the_field_that_lacks_one():
    with pytest.raises(FieldError, match="no time zone") as e:
        make_interval(datetime(2026, 3, 3, 9), utc(2026, 3, 3, 10))
    assert e.value.field == "start"
    with pytest.raises(FieldError, match="no time zone") as e:
        make_interval(utc(2026, 3, 3, 9), datetime(2026, 3, 3, 10))
    assert e.value.field == "end"


def test_an_interval_given_in_local_time_is_stored_in_utc():
    made = make_interval(datetime(2026, 6, 2, 9, tzinfo=LONDON), datetime(2026, 6, 2, 10, tzinfo=LONDON))
    assert made == iv(utc(2026, 6, 2, 8), utc(2026, 6, 2, 9))
    assert made.start.tzinfo is UTC


def test_an_appointment_crossing_midnight_is_one_interval():
    made = make_interval(at(6, "23:30"), at(7, "00:30"))
    assert made.duration == HOUR
    assert made.contains(at(7, "00:00"))


def test_touching_intervals_do_not_overlap_but_sharing_a_minute_does():
    a = iv(utc(2026, 3, 3, 9), utc(2026, 3, 3, 10))
    assert not a.overlaps(iv(utc(2026, 3, 3, 10), utc(2026, 3, 3, 11)))
    assert not iv(utc(2026, 3, 3, 8), utc(2026, 3, 3, 9)).overlaps(a)
    assert a.overlaps(iv(utc(2026, 3, 3, 9, 59), utc(2026, 3, 3, 11)))
    assert a.overlaps(iv(utc(2026, 3, 3, 9, 15), utc(2026, 3, 3, 9, 30)))


def test_an_interval_contains_its_start_but_not_its_end():
    a = iv(utc(2026, 3, 3, 9), utc(2026, 3, 3, 10))
    assert a.contains(utc(2026, 3, 3, 9))
    assert not a.contains(utc(2026, 3, 3, 10))
    assert a.contains(a)
    assert a.contains(iv(utc(2026, 3, 3, 9, 30), utc(2026, 3, 3, 10)))
    assert not a.contains(iv(utc(2026, 3, 3, 9, 30), utc(2026, 3, 3, 10, 1)))


def test_the_raw_interval_type_refuses_a_backwards_interval():
    with pytest.raises(ValueError):
        iv(utc(2026, 3, 3, 10), utc(2026, 3, 3, 9))


def test_merge_sorts_and_joins_overlapping_and_touching_intervals():
    got = merge(
        [
            iv(utc(2026, 3, 3, 14), utc(2026, 3, 3, 15)),
            iv(utc(2026, 3, 3, 9), utc(2026, 3, 3, 10)),
            iv(utc(2026, 3, 3, 10), utc(2026, 3, 3, 11)),
            iv(utc(2026, 3, 3, 9, 30), utc(2026, 3, 3, 9, 45)),
            iv(utc(2026, 3, 3, 12), utc(2026, 3, 3, 13)),
        ]
    )
    assert got == [
        iv(utc(2026, 3, 3, 9), utc(2026, 3, 3, 11)),
        iv(utc(2026, 3, 3, 12), utc(2026, 3, 3, 13)),
        iv(utc(2026, 3, 3, 14), utc(2026, 3, 3, 15)),
    ]
    assert merge([]) == []


def test_subtract_cuts_bookings_out_of_a_working_day():
    day = [iv(utc(2026, 3, 3, 9), utc(2026, 3, 3, 17))]
    busy = [
        iv(utc(2026, 3, 3, 12), utc(2026, 3, 3, 13)),
        iv(utc(2026, 3, 3, 8), utc(2026, 3, 3, 9, 30)),
        iv(utc(2026, 3, 3, 10), utc(2026, 3, 3, 10, 30)),
        iv(utc(2026, 3, 3, 10, 15), utc(2026, 3, 3, 11)),
        iv(utc(2026, 3, 3, 16, 30), utc(2026, 3, 3, 18)),
    ]
    assert subtract(day, busy) == [
        iv(utc(2026, 3, 3, 9, 30), utc(2026, 3, 3, 10)),
        iv(utc(2026, 3, 3, 11), utc(2026, 3, 3, 12)),
        iv(utc(2026, 3, 3, 13), utc(2026, 3, 3, 16, 30)),
    ]


def test_one_busy_stretch_can_cover_the_end_of_one_free_stretch_and_the_start_of_the_next():
    free = [iv(utc(2026, 3, 3, 9), utc(2026, 3, 3, 12)), iv(utc(2026, 3, 3, 13), utc(2026, 3, 3, 17))]
    busy = [iv(utc(2026, 3, 3, 11), utc(2026, 3, 3, 14))]
    assert subtract(free, busy) == [
        iv(utc(2026, 3, 3, 9), utc(2026, 3, 3, 11)),
        iv(utc(2026, 3, 3, 14), utc(2026, 3, 3, 17)),
    ]


def test_subtracting_nothing_leaves_the_free_time_merged_and_subtracting_everything_leaves_none():
    free = [iv(utc(2026, 3, 3, 13), utc(2026, 3, 3, 14)), iv(utc(2026, 3, 3, 9), utc(2026, 3, 3, 13))]
    assert subtract(free, []) == [iv(utc(2026, 3, 3, 9), utc(2026, 3, 3, 14))]
    assert subtract(free, [iv(utc(2026, 3, 3), utc(2026, 3, 4))]) == []


# --- local days and working hours --------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        (LONDON, date(2026, 3, 29), 23),
        (LONDON, date(2026, 10, 25), 25),
        (NEW_YORK, date(2026, 3, 8), 23),
        (NEW_YORK, date(2026, 11, 1), 25),
        (LONDON, date(2026, 6, 1), 24),
    ],
)
def test_a_local_day_is_23_or_25_hours_long_on_clock_change_days(tz, day, hours):
    bounds = local_day_bounds(day, tz)
    assert bounds.duration == timedelta(hours=hours)
    assert bounds.start.astimezone(tz).time() == time(0)
    assert bounds.end.astimezone(tz).date() == day + timedelta(days=1)


@pytest.mark.parametrize(
    ("tz", "day", "expected_utc"),
    [
        (LONDON, date(2026, 3, 29), (utc(2026, 3, 29, 7), utc(2026, 3, 29, 16))),
        (LONDON, date(2026, 10, 25), (utc(2026, 10, 25, 8), utc(2026, 10, 25, 17))),
        (NEW_YORK, date(2026, 3, 8), (utc(2026, 3, 8, 12), utc(2026, 3, 8, 21))),
        (NEW_YORK, date(2026, 11, 1), (utc(2026, 11, 1, 13), utc(2026, 11, 1, 22))),
    ],
)
def test_an_eight_to_five_day_on_a_clock_change_day_runs_eight_to_five_local_and_nine_real_hours(tz, day, expected_utc):
    got = working_intervals([WeeklyHours(6, hm("08:00"), hm("17:00"))], tz, day, day)
    assert got == [iv(*expected_utc)]
    assert got[0].duration == 9 * HOUR
    assert got[0].start.astimezone(tz).time() == time(8)
    assert got[0].end.astimezone(tz).time() == time(17)


@pytest.mark.parametrize(
    ("tz", "day", "expected_utc", "real_hours"),
    [
        (LONDON, date(2026, 3, 29), (utc(2026, 3, 29, 0), utc(2026, 3, 29, 2)), 2),
        (LONDON, date(2026, 10, 25), (utc(2026, 10, 24, 23), utc(2026, 10, 25, 3)), 4),
        (NEW_YORK, date(2026, 3, 8), (utc(2026, 3, 8, 5), utc(2026, 3, 8, 7)), 2),
        (NEW_YORK, date(2026, 11, 1), (utc(2026, 11, 1, 4), utc(2026, 11, 1, 8)), 4),
    ],
)
def test_a_midnight_to_three_shift_across_the_clock_change_is_two_or_four_real_hours(tz, day, expected_utc, real_hours):
    got = working_intervals([WeeklyHours(6, hm("00:00"), hm("03:00"))], tz, day, day)
    assert got == [iv(*expected_utc)]
    assert got[0].duration == timedelta(hours=real_hours)


def test_a_shift_starting_at_a_time_the_clocks_skip_starts_that_much_later():
    # 02:30 does not exist on 8 Mar 2026 in New York; it is read as 03:30 EDT
    got = working_intervals([WeeklyHours(6, hm("02:30"), hm("05:00"))], NEW_YORK, date(2026, 3, 8), date(2026, 3, 8))
    assert got == [iv(utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 9))]
    assert got[0].start.astimezone(NEW_YORK).time() == time(3, 30)


def test_a_shift_starting_in_the_repeated_hour_starts_at_its_first_occurrence():
    got = working_intervals([WeeklyHours(6, hm("01:30"), hm("03:00"))], NEW_YORK, date(2026, 11, 1), date(2026, 11, 1))
    assert got == [iv(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 8))]
    assert got[0].duration == timedelta(hours=2, minutes=30)


def test_a_shift_lying_wholly_in_the_skipped_hour_moves_forward_with_it():
    day = date(2026, 3, 8)
    got = working_intervals([WeeklyHours(6, hm("02:10"), hm("02:50"))], NEW_YORK, day, day)
    assert [(f"{w.start.astimezone(NEW_YORK):%H:%M}", f"{w.end.astimezone(NEW_YORK):%H:%M}") for w in got] == [
        ("03:10", "03:50")
    ]


def test_a_shift_whose_start_moves_forward_past_its_end_gives_no_working_time():
    # 02:30 becomes 03:30, which is after the 03:00 end
    day = date(2026, 3, 8)
    assert working_intervals([WeeklyHours(6, hm("02:30"), hm("03:00"))], NEW_YORK, day, day) == []


def test_a_working_week_across_the_spring_change_keeps_local_hours_on_both_sides():
    hours = [WeeklyHours(d, hm("08:00"), hm("17:00")) for d in range(5)]
    got = working_intervals(hours, NEW_YORK, date(2026, 3, 6), date(2026, 3, 9))
    assert got == [iv(utc(2026, 3, 6, 13), utc(2026, 3, 6, 22)), iv(utc(2026, 3, 9, 12), utc(2026, 3, 9, 21))]


def test_an_overnight_shift_runs_into_the_next_day_and_joins_a_shift_starting_at_midnight():
    hours = [WeeklyHours(4, hm("22:00"), hm("00:00")), WeeklyHours(5, hm("00:00"), hm("06:00"))]
    got = working_intervals(hours, LONDON, date(2026, 3, 6), date(2026, 3, 7))
    assert got == [iv(at(6, "22:00"), at(7, "06:00"))]
    overnight = working_intervals(
        [WeeklyHours(4, hm("22:00"), hm("06:00"))], LONDON, date(2026, 3, 6), date(2026, 3, 6)
    )
    assert overnight == [iv(at(6, "22:00"), at(7, "06:00"))]


def test_a_lunch_break_is_two_stretches_of_the_same_day():
    hours = [WeeklyHours(1, hm("09:00"), hm("12:00")), WeeklyHours(1, hm("13:00"), hm("17:00"))]
    got = working_intervals(hours, LONDON, date(2026, 3, 2), date(2026, 3, 8))
    assert got == [span(3, "09:00", "12:00"), span(3, "13:00", "17:00")]


def test_an_exception_with_no_hours_closes_the_clinic_that_day():
    hours = [WeeklyHours(d, hm("09:00"), hm("17:00")) for d in range(5)]
    got = working_intervals(hours, LONDON, date(2026, 3, 2), date(2026, 3, 4), {date(2026, 3, 3): []})
    assert got == [span(2, "09:00", "17:00"), span(4, "09:00", "17:00")]


def test_an_exception_with_hours_replaces_that_days_usual_hours():
    hours = [WeeklyHours(d, hm("09:00"), hm("17:00")) for d in range(5)]
    exceptions = {date(2026, 3, 3): [(hm("07:00"), hm("11:00"))], date(2026, 3, 7): [(hm("10:00"), hm("13:00"))]}
    got = working_intervals(hours, LONDON, date(2026, 3, 3), date(2026, 3, 7), exceptions)
    assert got == [
        span(3, "07:00", "11:00"),
        span(4, "09:00", "17:00"),
        span(5, "09:00", "17:00"),
        span(6, "09:00", "17:00"),
        span(7, "10:00", "13:00"),
    ]


def test_a_weekday_outside_monday_to_sunday_is_refused():
    with pytest.raises(FieldError, match="0 \\(Monday\\) to 6 \\(Sunday\\)"):
        WeeklyHours(7, hm("09:00"), hm("17:00"))


def test_day_view_rows_skip_the_hour_the_clocks_jump_over():
    rows = grid_times(date(2026, 3, 8), NEW_YORK, timedelta(minutes=30), hm("00:00"), hm("04:00"))
    assert [f"{r:%H:%M}" for r in rows] == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30"]


def test_day_view_rows_show_the_repeated_hour_twice_in_real_time_order():
    rows = grid_times(date(2026, 11, 1), NEW_YORK, timedelta(minutes=30), hm("00:00"), hm("03:00"))
    assert [f"{r:%H:%M}" for r in rows] == ["00:00", "00:30", "01:00", "01:30", "01:00", "01:30", "02:00", "02:30"]
    real = [r.astimezone(UTC) for r in rows]
    assert all(b - a == 30 * MIN for a, b in zip(real, real[1:], strict=False))


def test_day_view_rows_of_an_ordinary_day_run_from_opening_up_to_closing():
    rows = grid_times(date(2026, 3, 3), LONDON, timedelta(minutes=15), hm("08:00"), hm("17:00"))
    assert len(rows) == 36
    assert rows[0] == datetime(2026, 3, 3, 8, tzinfo=LONDON)
    assert rows[-1] == datetime(2026, 3, 3, 16, 45, tzinfo=LONDON)


def test_day_view_rows_can_run_past_midnight():
    rows = grid_times(date(2026, 3, 6), LONDON, HOUR, hm("22:00"), hm("01:00"))
    assert [f"{r:%d %H:%M}" for r in rows] == ["06 22:00", "06 23:00", "07 00:00"]


# --- slot finding: hand-worked cases -----------------------------------------------------


def slots(**kw) -> list[SlotOption]:
    args = {
        "length": 30 * MIN,
        "busy_by_provider": {},
        "patient_busy": [],
        "operatories": {"op1": []},
        "tz": LONDON,
    }
    args.update(kw)
    return find_slots(**args)


# Tue 3 Mar: Dr Ann works 09:00-17:00 with lunch 12:00-13:00 blocked out; she has bookings at
# 09:00-09:30 and 10:00-11:00; the only chair is busy 11:00-11:40; the patient is elsewhere
# 13:00-14:00. A 30-minute visit on a 10-minute grid fits at 09:30 (09:40 would run into
# 10:00), not after 11:00 (the chair is free at 11:40 but Ann stops for lunch at 12:00),
# then from 14:00 on.
ANN_DAY = subtract([span(3, "09:00", "17:00")], [span(3, "12:00", "13:00")])
ANN_BOOKED = [span(3, "09:00", "09:30"), span(3, "10:00", "11:00")]


def test_slots_avoid_bookings_lunch_the_busy_chair_and_the_patients_other_appointment():
    got = slots(
        providers={"ann": ANN_DAY},
        busy_by_provider={"ann": ANN_BOOKED},
        operatories={"op1": [span(3, "11:00", "11:40")]},
        patient_busy=[span(3, "13:00", "14:00")],
        window=span(3, "00:00", "23:59"),
        limit=5,
    )
    assert starts(got) == ["Tue 09:30", "Tue 14:00", "Tue 14:10", "Tue 14:20", "Tue 14:30"]
    assert [(o.provider_id, o.operatory_id) for o in got] == [("ann", "op1")] * 5
    assert got[0].end == at(3, "10:00")
    assert [o.score for o in got] == [570.0, 840.0, 850.0, 860.0, 870.0]


def test_a_second_chair_is_used_when_the_first_is_taken():
    got = slots(
        providers={"ann": ANN_DAY},
        busy_by_provider={"ann": ANN_BOOKED},
        operatories={"op1": [span(3, "09:00", "12:00")], "op2": [span(3, "09:00", "09:35")]},
        window=span(3, "00:00", "23:59"),
        limit=3,
    )
    assert [(s, o.operatory_id) for s, o in zip(starts(got), got, strict=True)] == [
        ("Tue 11:00", "op2"),
        ("Tue 11:10", "op2"),
        ("Tue 11:20", "op2"),
    ]


def test_only_the_chairs_asked_for_are_offered_and_an_unlisted_one_counts_as_free():
    ops = {"op1": [], "op2": [span(3, "09:30", "11:00")]}
    got = slots(
        providers={"ann": ANN_DAY},
        busy_by_provider={"ann": ANN_BOOKED},
        operatories=ops,
        use_operatories=["op2", "op3"],
        window=span(3, "00:00", "23:59"),
        limit=2,
    )
    assert [(s, o.operatory_id) for s, o in zip(starts(got), got, strict=True)] == [
        ("Tue 09:30", "op3"),
        ("Tue 11:00", "op2"),
    ]


def test_no_chairs_means_no_slots():
    assert slots(providers={"ann": ANN_DAY}, operatories={}, window=span(3, "00:00", "23:59")) == []


def test_the_reason_reads_as_day_time_provider_and_chair():
    got = slots(
        providers={"ann": ANN_DAY},
        busy_by_provider={"ann": ANN_BOOKED},
        window=span(3, "00:00", "23:59"),
        labels={"ann": "Dr Ann", "op1": "Op 1"},
        limit=1,
    )
    assert got[0].reason == "Tue 3 Mar 09:30 with Dr Ann in Op 1"
    assert slots(providers={"ann": ANN_DAY}, window=span(3, "00:00", "23:59"), limit=1)[0].reason == (
        "Tue 3 Mar 09:00 with ann in op1"
    )


def test_slot_starts_land_on_the_grid_even_when_the_window_opens_off_it():
    got = slots(providers={"ann": ANN_DAY}, window=Interval(at(3, "09:03"), at(3, "23:00")), limit=2)
    assert starts(got) == ["Tue 09:10", "Tue 09:20"]
    got = slots(providers={"ann": ANN_DAY}, window=Interval(at(3, "09:03"), at(3, "23:00")), grid=15 * MIN, limit=2)
    assert starts(got) == ["Tue 09:15", "Tue 09:30"]


def test_the_grid_is_counted_in_local_time_not_utc():
    # Kolkata is UTC+05:30: an hourly grid there starts at 09:00 local, which is 03:30 UTC
    day = [span(3, "09:00", "11:00", KOLKATA)]
    got = slots(providers={"ann": day}, tz=KOLKATA, window=span(3, "00:00", "23:00", KOLKATA), grid=HOUR)
    assert [o.start for o in got] == [utc(2026, 3, 3, 3, 30), utc(2026, 3, 3, 4, 30)]


def test_a_grid_that_does_not_divide_the_day_is_refused():
    with pytest.raises(FieldError, match="divide the day") as e:
        slots(providers={"ann": ANN_DAY}, window=span(3, "00:00", "23:00"), grid=7 * MIN)
    assert e.value.field == "grid"


def test_a_length_of_zero_or_over_twelve_hours_is_refused():
    with pytest.raises(FieldError, match="more than zero"):
        slots(providers={"ann": ANN_DAY}, window=span(3, "00:00", "23:00"), length=timedelta(0))
    with pytest.raises(FieldError, match="longer than 12 hours"):
        slots(providers={"ann": ANN_DAY}, window=span(3, "00:00", "23:00"), length=13 * HOUR)


def test_slots_stay_inside_the_search_window():
    got = slots(providers={"ann": ANN_DAY}, window=Interval(at(3, "16:00"), at(3, "16:45")), limit=10)
    assert starts(got) == ["Tue 16:00", "Tue 16:10"]


def test_the_limit_caps_the_number_of_options():
    assert len(slots(providers={"ann": ANN_DAY}, window=span(3, "00:00", "23:00"), limit=3)) == 3
    assert slots(providers={"ann": ANN_DAY}, window=span(3, "00:00", "23:00"), limit=0) == []


# Thu 5 and Fri 6 Mar, 09:00-17:00, booked Thu 09:00-11:30; 30-minute visits on a 30-minute grid.
THU_FRI = [span(5, "09:00", "17:00"), span(6, "09:00", "17:00")]
THU_BOOKED = {"ann": [span(5, "09:00", "11:30")]}


def prefer_slots(prefer: SlotPreference, limit: int = 10, **kw) -> list[SlotOption]:
    return slots(
        providers={"ann": THU_FRI},
        busy_by_provider=THU_BOOKED,
        window=Interval(at(5, "00:00"), at(7, "00:00")),
        grid=30 * MIN,
        prefer=prefer,
        limit=limit,
        **kw,
    )


def test_mornings_only_and_not_on_fridays_leaves_the_one_free_thursday_morning_slot():
    got = prefer_slots(SlotPreference(mornings_only=True, excluded_weekdays=frozenset({4})))
    assert starts(got) == ["Thu 11:30"]


def test_mornings_only_offers_the_free_mornings_in_order():
    got = prefer_slots(SlotPreference(mornings_only=True), limit=3)
    assert starts(got) == ["Thu 11:30", "Fri 09:00", "Fri 09:30"]


def test_afternoons_only_starts_at_noon():
    got = prefer_slots(SlotPreference(afternoons_only=True), limit=2)
    assert starts(got) == ["Thu 12:00", "Thu 12:30"]


def test_earliest_start_and_latest_finish_bound_the_slots():
    got = prefer_slots(SlotPreference(earliest_local_time=hm("15:00"), latest_local_time=hm("16:00")))
    assert starts(got) == ["Thu 15:00", "Thu 15:30", "Fri 15:00", "Fri 15:30"]


def test_wishes_that_are_not_strict_only_push_unmatched_slots_down_the_list():
    got = prefer_slots(SlotPreference(afternoons_only=True, strict=False), limit=3, length=HOUR)
    # with the morning taken Thursday, a strict search would say 12:00; here it is first anyway
    assert starts(got) == ["Thu 12:00", "Thu 12:30", "Thu 13:00"]
    evening = Interval(at(5, "00:00"), at(7, "00:00"))
    day_then_morning = {"ann": [span(5, "13:00", "14:00"), span(6, "09:00", "10:00")]}
    got = slots(
        providers=day_then_morning,
        window=evening,
        grid=30 * MIN,
        prefer=SlotPreference(mornings_only=True, strict=False),
        limit=4,
    )
    assert starts(got) == ["Fri 09:00", "Fri 09:30", "Thu 13:00", "Thu 13:30"]
    assert got[2].score == 13 * 60 + MISMATCH_PENALTY_MINUTES
    assert got[2].reason.endswith("(outside the patient's wishes: mornings only)")


def test_contradicting_or_impossible_wishes_are_refused():
    with pytest.raises(FieldError, match="mornings or afternoons"):
        SlotPreference(mornings_only=True, afternoons_only=True)
    with pytest.raises(FieldError, match="after the earliest"):
        SlotPreference(earliest_local_time=hm("15:00"), latest_local_time=hm("15:00"))
    with pytest.raises(FieldError, match="Weekdays"):
        SlotPreference(excluded_weekdays=frozenset({7}))


# Tue 3 Mar, both work 09:00-17:00; Ann is booked 09:00-10:00, Bob is free.
TWO = {"ann": [span(3, "09:00", "17:00")], "bob": [span(3, "09:00", "17:00")]}
TWO_BUSY = {"ann": [span(3, "09:00", "10:00")]}


def two(prefer: SlotPreference | None = None, limit: int = 3) -> list[SlotOption]:
    return slots(
        providers=TWO,
        busy_by_provider=TWO_BUSY,
        operatories={"op1": [], "op2": []},
        window=span(3, "00:00", "23:00"),
        grid=30 * MIN,
        prefer=prefer or SlotPreference(),
        limit=limit,
    )


def test_without_preferences_the_earliest_slots_come_first_and_ties_go_by_provider():
    got = two()
    assert [(s, o.provider_id) for s, o in zip(starts(got), got, strict=True)] == [
        ("Tue 09:00", "bob"),
        ("Tue 09:30", "bob"),
        ("Tue 10:00", "ann"),
    ]
    assert [o.score for o in got] == [540.0, 570.0, 600.0]


def test_a_preferred_provider_ranks_first_when_free_within_a_day_of_the_others():
    got = two(SlotPreference(preferred_provider_ids=("ann",)))
    assert [(s, o.provider_id) for s, o in zip(starts(got), got, strict=True)] == [
        ("Tue 10:00", "ann"),
        ("Tue 10:30", "ann"),
        ("Tue 11:00", "ann"),
    ]
    assert two(SlotPreference(preferred_provider_ids=("ann",)), limit=40)[0].score == 600.0
    bob = [o for o in two(SlotPreference(preferred_provider_ids=("ann",)), limit=40) if o.provider_id == "bob"]
    assert bob[0].score == 540 + PROVIDER_PENALTY_MINUTES


def test_when_the_preferred_provider_has_no_time_the_others_are_offered():
    got = slots(
        providers=TWO,
        busy_by_provider={"ann": [span(3, "00:00", "23:00")]},
        window=span(3, "00:00", "23:00"),
        grid=30 * MIN,
        prefer=SlotPreference(preferred_provider_ids=("ann",)),
        limit=2,
    )
    assert [(s, o.provider_id) for s, o in zip(starts(got), got, strict=True)] == [
        ("Tue 09:00", "bob"),
        ("Tue 09:30", "bob"),
    ]


def test_a_slot_may_cross_midnight_when_the_provider_works_through_it():
    hours = [WeeklyHours(4, hm("22:00"), hm("06:00"))]
    work = working_intervals(hours, LONDON, date(2026, 3, 6), date(2026, 3, 6))
    got = slots(
        providers={"ann": work},
        busy_by_provider={"ann": [span(6, "22:00", "23:30")]},
        window=Interval(at(6, "00:00"), at(8, "00:00")),
        length=HOUR,
        grid=30 * MIN,
        limit=1,
    )
    assert got[0].start == at(6, "23:30")
    assert got[0].end == at(7, "00:30")
    assert got[0].reason == "Fri 6 Mar 23:30 with ann in op1"


def test_slots_follow_local_time_across_the_spring_forward_night():
    # Sun 29 Mar in London: 00:00-03:00 local is 2 real hours; 01:00 local never happens,
    # so after 00:00 and 00:30 GMT the next grid time is 02:00 BST (01:00 UTC)
    work = working_intervals([WeeklyHours(6, hm("00:00"), hm("03:00"))], LONDON, date(2026, 3, 29), date(2026, 3, 29))
    got = slots(providers={"ann": work}, window=local_day_bounds(date(2026, 3, 29), LONDON), length=HOUR, grid=30 * MIN)
    assert [o.start for o in got] == [utc(2026, 3, 29, 0), utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1)]
    assert [f"{o.start.astimezone(LONDON):%H:%M %Z}" for o in got] == ["00:00 GMT", "00:30 GMT", "02:00 BST"]


def test_a_fully_booked_quarter_gives_no_slots():
    hours = [WeeklyHours(d, hm("09:00"), hm("17:00")) for d in range(5)]
    work = working_intervals(hours, LONDON, date(2026, 3, 2), date(2026, 5, 29))
    got = slots(
        providers={"ann": work},
        busy_by_provider={"ann": work},
        window=Interval(at(2, "00:00"), at(30, "00:00", month=5)),
    )
    assert got == []


def test_a_busy_clinic_over_three_months_offers_the_earliest_free_times_first():
    hours = [WeeklyHours(d, hm("08:00"), hm("12:30")) for d in range(5)]
    hours += [WeeklyHours(d, hm("13:30"), hm("17:00")) for d in range(5)]
    work = working_intervals(hours, LONDON, date(2026, 3, 2), date(2026, 5, 29))
    providers = {f"p{i}": work for i in range(5)}
    # everyone is booked every morning, so the first slots are after lunch on the first day
    mornings = [w for w in work if w.start.astimezone(LONDON).time() == time(8)]
    busy = dict.fromkeys(providers, mornings)
    ops = {f"op{i}": [] for i in range(5)}
    got = find_slots(
        length=HOUR,
        providers=providers,
        busy_by_provider=busy,
        operatories=ops,
        patient_busy=[],
        window=Interval(at(2, "00:00"), at(29, "00:00", month=5)),
        tz=LONDON,
    )
    assert len(got) == 10
    assert starts(got)[:6] == ["Mon 13:30"] * 5 + ["Mon 13:40"]
    assert [o.provider_id for o in got[:5]] == ["p0", "p1", "p2", "p3", "p4"]


# --- the property: every slot offered is really free ------------------------------------

# weekends when the clocks change in London or New York, and an ordinary one
BASES = [utc(2026, 3, 28), utc(2026, 10, 24), utc(2026, 3, 7), utc(2026, 10, 31), utc(2026, 6, 6)]
ZONES = [LONDON, NEW_YORK, KOLKATA, ZoneInfo("UTC")]


@st.composite
def intervals(draw, max_minutes: int = 3 * 24 * 60, max_length: int = 600) -> Interval:
    base = draw(st.shared(st.sampled_from(BASES), key="base"))
    start = draw(st.integers(0, max_minutes // 5)) * 5
    length = draw(st.integers(1, max_length // 5)) * 5
    return Interval(base + start * MIN, base + (start + length) * MIN)


def interval_lists(max_size: int = 6) -> st.SearchStrategy[list[Interval]]:
    return st.lists(intervals(), max_size=max_size)


@given(free=interval_lists(8), busy=interval_lists(8))
def test_subtract_never_overlaps_busy_time_and_stays_inside_free_time(free, busy):
    left = subtract(free, busy)
    assert all(not a.overlaps(b) for a in left for b in busy)
    assert all(any(f.contains(a) for f in merge(free)) for a in left)
    assert all(a.end < b.start for a, b in zip(left, left[1:], strict=False))
    # nothing free and not busy is lost: every free minute not busy is in the answer
    for f in free:
        for m in range(0, int(f.duration / MIN), 5):
            t = f.start + m * MIN
            if not any(b.contains(t) for b in busy):
                assert any(a.contains(t) for a in left)


preferences = st.builds(
    SlotPreference,
    mornings_only=st.booleans(),
    excluded_weekdays=st.frozensets(st.integers(0, 6), max_size=3),
    earliest_local_time=st.sampled_from([None, time(8), time(10, 30)]),
    preferred_provider_ids=st.sampled_from([(), ("p1",), ("p2", "p0")]),
    strict=st.booleans(),
)


def brute_force(length, providers, busy, ops, patient, window, tz, grid, prefer, limit):
    """Every grid time checked one by one: the slow, obviously right answer."""
    rank = {pid: i for i, pid in enumerate(prefer.preferred_provider_ids)}
    found = []
    t = window.start
    while t + length <= window.end:
        local = t.astimezone(tz)
        on_grid = (local.replace(tzinfo=None) - datetime(1970, 1, 1)) % grid == timedelta(0)
        cand = Interval(t, t + length)
        missed = prefer.unmet(local, cand.end.astimezone(tz))
        if on_grid and not (prefer.strict and missed):
            for pid, work in providers.items():
                if not any(w.contains(cand) for w in merge(work)):
                    continue
                if any(cand.overlaps(b) for b in busy.get(pid, []) + patient):
                    continue
                op = next((o for o, booked in ops.items() if not any(cand.overlaps(b) for b in booked)), None)
                if op is None:
                    continue
                r = rank.get(pid, len(rank))
                score = (t - window.start) / MIN + r * PROVIDER_PENALTY_MINUTES
                score += 0 if prefer.strict else len(missed) * MISMATCH_PENALTY_MINUTES
                found.append((score, t, r, pid, op))
        t += 5 * MIN
    return [(t, pid, op, score) for score, t, _, pid, op in sorted(found)[:limit]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    provider_work=st.lists(interval_lists(4), min_size=1, max_size=3),
    provider_busy=st.lists(interval_lists(5), min_size=3, max_size=3),
    op_busy=st.lists(interval_lists(4), min_size=1, max_size=3),
    patient=interval_lists(3),
    window=intervals(max_length=3 * 24 * 60),
    length_steps=st.integers(1, 24),
    grid_minutes=st.sampled_from([5, 10, 15, 30, 60]),
    tz=st.sampled_from(ZONES),
    prefer=preferences,
    limit=st.integers(1, 12),
)
def test_find_slots_offers_only_free_working_time_and_matches_a_brute_force_search(
    provider_work, provider_busy, op_busy, patient, window, length_steps, grid_minutes, tz, prefer, limit
):
    providers = {f"p{i}": work for i, work in enumerate(provider_work)}
    busy = {f"p{i}": b for i, b in enumerate(provider_busy)}
    ops = {f"op{i}": b for i, b in enumerate(op_busy)}
    length, grid = length_steps * 5 * MIN, grid_minutes * MIN
    got = find_slots(
        length=length,
        providers=providers,
        busy_by_provider=busy,
        operatories=ops,
        patient_busy=patient,
        window=window,
        tz=tz,
        grid=grid,
        prefer=prefer,
        limit=limit,
    )
    assert len(got) <= limit
    for o in got:
        slot = Interval(o.start, o.end)
        assert o.end - o.start == length
        assert window.contains(slot)
        assert any(w.contains(slot) for w in merge(providers[o.provider_id]))
        assert not any(slot.overlaps(b) for b in busy[o.provider_id])
        assert not any(slot.overlaps(b) for b in ops[o.operatory_id])
        assert not any(slot.overlaps(b) for b in patient)
        if prefer.strict:
            assert prefer.unmet(o.start.astimezone(tz), o.end.astimezone(tz)) == []
    assert [o.score for o in got] == sorted(o.score for o in got)
    expected = brute_force(length, providers, busy, ops, patient, window, tz, grid, prefer, limit)
    assert [(o.start, o.provider_id, o.operatory_id, o.score) for o in got] == expected


# --- visit states ----------------------------------------------------------------------

REBOOK = "book a new appointment instead."
HAS_ARRIVED = "An appointment whose patient has arrived"
ALLOWED_PAIRS = [(a, b) for a, targets in ALLOWED.items() for b in sorted(targets)]


@pytest.mark.parametrize(("current", "target"), ALLOWED_PAIRS)
def test_every_allowed_visit_transition_succeeds(current, target):
    assert transition(current, target) is target


def test_the_allowed_transitions_are_exactly_the_clinics_workflow():
    assert {(a.value, b.value) for a, b in ALLOWED_PAIRS} == {
        ("scheduled", "confirmed"),
        ("scheduled", "arrived"),
        ("scheduled", "cancelled"),
        ("scheduled", "no_show"),
        ("scheduled", "broken"),
        ("confirmed", "arrived"),
        ("confirmed", "cancelled"),
        ("confirmed", "no_show"),
        ("confirmed", "broken"),
        ("arrived", "seated"),
        ("arrived", "cancelled"),
        ("arrived", "broken"),
        ("seated", "completed"),
    }


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (S.CANCELLED, S.COMPLETED, "A cancelled appointment cannot be completed."),
        (
            S.CANCELLED,
            S.SCHEDULED,
            "A cancelled appointment cannot be scheduled again; book a new appointment instead.",
        ),
        (S.NO_SHOW, S.SCHEDULED, f"A no-show appointment cannot be scheduled again; {REBOOK}"),
        (S.BROKEN, S.CONFIRMED, "A broken appointment cannot be confirmed."),
        (S.COMPLETED, S.CANCELLED, "A completed appointment cannot be cancelled."),
        (S.SCHEDULED, S.SEATED, "A scheduled appointment cannot be seated; mark the patient as arrived first."),
        (S.CONFIRMED, S.COMPLETED, "A confirmed appointment cannot be completed; seat the patient first."),
        (
            S.ARRIVED,
            S.COMPLETED,
            "An appointment whose patient has arrived cannot be completed; seat the patient first.",
        ),
        (S.ARRIVED, S.CONFIRMED, f"{HAS_ARRIVED} cannot be confirmed."),
        (S.ARRIVED, S.NO_SHOW, f"{HAS_ARRIVED} cannot be marked as a no-show."),
        (S.SEATED, S.CANCELLED, "An appointment whose patient is in the chair cannot be cancelled."),
        (S.SEATED, S.BROKEN, "An appointment whose patient is in the chair cannot be marked as broken."),
        (S.CONFIRMED, S.SCHEDULED, "A confirmed appointment cannot be scheduled again."),
        (S.CONFIRMED, S.CONFIRMED, "The appointment is already confirmed."),
        (S.COMPLETED, S.COMPLETED, "The appointment is already completed."),
    ],
)
def test_an_illegal_transition_is_refused_with_a_message_the_front_desk_understands(current, target, message):
    with pytest.raises(UserError) as e:
        transition(current, target)
    assert str(e.value) == message
    assert e.value.current is current  # type: ignore[attr-defined]
    assert e.value.target is target  # type: ignore[attr-defined]


@pytest.mark.parametrize("current", list(S))
def test_every_transition_not_allowed_is_refused(current):
    for target in S:
        if target not in ALLOWED[current]:
            with pytest.raises(UserError, match="cannot be|already"):
                transition(current, target)


def test_completed_cancelled_no_show_and_broken_are_final():
    assert {s for s in S if not ALLOWED[s]} == {S.COMPLETED, S.CANCELLED, S.NO_SHOW, S.BROKEN}


def test_only_cancelled_no_show_and_broken_appointments_free_their_slot():
    assert {s for s in S if not is_active(s)} == {S.CANCELLED, S.NO_SHOW, S.BROKEN}


def test_visit_status_values_are_the_stored_words():
    assert S("no_show") is S.NO_SHOW
    assert [s.value for s in S] == [
        "scheduled",
        "confirmed",
        "arrived",
        "seated",
        "completed",
        "cancelled",
        "no_show",
        "broken",
    ]


# --- recalls ---------------------------------------------------------------------------

HYGIENE = RecallRule("HYG", "Hygiene recall", 6)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2023, 8, 31), 6, date(2024, 2, 29)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2026, 7, 15), 6, date(2027, 1, 15)),
        (date(2026, 12, 31), 12, date(2027, 12, 31)),
        (date(2026, 5, 10), 0, date(2026, 5, 10)),
    ],
)
def test_adding_months_keeps_the_day_or_clamps_to_the_months_end(start, months, expected):
    assert add_months(start, months) == expected


def test_a_six_month_recall_after_the_31st_of_august_is_due_at_the_end_of_february():
    assert recall_due(date(2025, 8, 31), HYGIENE, today=date(2025, 9, 1)) == date(2026, 2, 28)
    assert recall_due(date(2026, 1, 10), HYGIENE, today=date(2026, 1, 10)) == date(2026, 7, 10)


def test_a_patient_never_seen_for_a_recall_has_no_due_date():
    assert recall_due(None, HYGIENE, today=date(2026, 3, 3)) is None


def test_a_last_visit_after_today_is_refused():
    with pytest.raises(FieldError, match="cannot be after today") as e:
        recall_due(date(2026, 3, 4), HYGIENE, today=date(2026, 3, 3))
    assert e.value.field == "last_completed"


def test_a_recall_interval_under_one_month_is_refused():
    with pytest.raises(FieldError, match="at least one month"):
        RecallRule("X", "Never", 0)


TODAY = date(2026, 3, 3)


@pytest.mark.parametrize(
    ("due", "contacted", "state"),
    [
        (date(2026, 4, 3), False, "upcoming"),
        (date(2026, 4, 2), False, "due"),
        (date(2026, 3, 3), False, "due"),
        (date(2026, 3, 2), False, "overdue"),
        (date(2025, 9, 1), False, "overdue"),
        (date(2026, 3, 20), True, "contacted"),
        (date(2026, 1, 1), True, "contacted"),
        (date(2026, 6, 1), True, "upcoming"),
    ],
)
def test_recall_states_for_the_call_list(due, contacted, state):
    assert recall_state(due, TODAY, contacted) == state
