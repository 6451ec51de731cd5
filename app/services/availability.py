"""Reads hours, blocks and bookings from the database and turns them into free time."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.db.models import Appointment, HoursException, Location, ScheduleBlock, WeeklyHoursRow
from app.domain.scheduling import (
    ACTIVE,
    DAY,
    MAX_APPOINTMENT,
    Interval,
    WeeklyHours,
    merge,
    subtract,
    working_intervals,
)

ACTIVE_STATUSES = tuple(str(s) for s in ACTIVE)


def hhmm(text: str) -> time:
    return time.fromisoformat(text)


@dataclass(frozen=True)
class BlockView:
    id: str
    provider_id: str | None
    operatory_id: str | None
    kind: str
    interval: Interval
    note: str


def location_tz(session: Session, location_id: str) -> tuple[Location, ZoneInfo]:
    loc = session.get(Location, location_id)
    if loc is None or loc.deleted_at is not None:
        raise LookupError("location not found")
    return loc, ZoneInfo(loc.time_zone)


def blocks(
    session: Session, location_id: str, tz: ZoneInfo, first: date, last: date, provider_id: str | None = None
) -> list[BlockView]:
    """One-off blocks touching the days, plus weekly blocks expanded onto each day; with
    `provider_id`, only that provider's and the location-wide ones."""
    bounds = Interval(*_span(tz, first, last))
    query = select(ScheduleBlock).where(
        ScheduleBlock.location_id == location_id,
        ScheduleBlock.deleted_at.is_(None),
        or_(
            ScheduleBlock.weekday.is_not(None),
            and_(ScheduleBlock.starts_at < bounds.end, ScheduleBlock.ends_at > bounds.start),
        ),
    )
    if provider_id is not None:
        query = query.where(or_(ScheduleBlock.provider_id == provider_id, ScheduleBlock.provider_id.is_(None)))
    rows = session.scalars(query)
    out: list[BlockView] = []
    for b in rows:
        if b.weekday is None:
            assert b.starts_at is not None and b.ends_at is not None
            out.append(BlockView(b.id, b.provider_id, b.operatory_id, b.kind, Interval(b.starts_at, b.ends_at), b.note))
            continue
        assert b.start_local and b.end_local
        weekly = [WeeklyHours(b.weekday, hhmm(b.start_local), hhmm(b.end_local))]
        # from the day before: a weekly block past midnight reaches into the first day
        for iv in working_intervals(weekly, tz, first - DAY, last):
            if iv.overlaps(bounds):
                out.append(BlockView(b.id, b.provider_id, b.operatory_id, b.kind, iv, b.note))
    return out


def _span(tz: ZoneInfo, first: date, last: date) -> tuple[datetime, datetime]:
    from app.domain.scheduling import local_day_bounds

    return local_day_bounds(first, tz).start, local_day_bounds(last, tz).end


def provider_hours(
    session: Session, location_id: str, tz: ZoneInfo, first: date, last: date, provider_id: str | None = None
) -> dict[str, list[Interval]]:
    """Provider id -> working intervals at the location (weekly hours with exceptions); with
    `provider_id`, that provider's alone."""
    weekly: dict[str, list[WeeklyHours]] = defaultdict(list)
    rows = select(WeeklyHoursRow).where(
        WeeklyHoursRow.location_id == location_id,
        WeeklyHoursRow.provider_id.is_not(None),
        WeeklyHoursRow.deleted_at.is_(None),
    )
    if provider_id is not None:
        rows = rows.where(WeeklyHoursRow.provider_id == provider_id)
    for row in session.scalars(rows):
        assert row.provider_id is not None
        weekly[row.provider_id].append(WeeklyHours(row.weekday, hhmm(row.start_local), hhmm(row.end_local)))
    exceptions: dict[str, dict[date, list[tuple[time, time]]]] = defaultdict(dict)
    for ex in session.scalars(
        select(HoursException).where(
            HoursException.location_id == location_id,
            HoursException.deleted_at.is_(None),
            HoursException.day >= first - DAY,
            HoursException.day <= last,
        )
    ):
        key = ex.provider_id or ""
        shifts = exceptions[key].setdefault(ex.day, [])
        if ex.start_local and ex.end_local:
            shifts.append((hhmm(ex.start_local), hhmm(ex.end_local)))
    span = Interval(*_span(tz, first, last))
    out: dict[str, list[Interval]] = {}
    for pid, hours in weekly.items():
        # a location-wide exception (holiday) applies to every provider, theirs on top
        merged = {**exceptions.get("", {}), **exceptions.get(pid, {})}
        # from the day before, so a night shift that began then still counts after midnight,
        # then clipped to the days asked for
        working = working_intervals(hours, tz, first - DAY, last, merged)
        out[pid] = [Interval(max(iv.start, span.start), min(iv.end, span.end)) for iv in working if iv.overlaps(span)]
    return out


def available(hours: dict[str, list[Interval]], block_list: list[BlockView]) -> dict[str, list[Interval]]:
    """Working time minus the provider's own blocks and location-wide blocks."""
    out: dict[str, list[Interval]] = {}
    for pid, working in hours.items():
        busy = [b.interval for b in block_list if b.provider_id in (pid, None) and b.operatory_id is None]
        out[pid] = subtract(working, merge(busy))
    return out


def _holding_time(c: Any, start: datetime, end: datetime) -> tuple[Any, ...]:
    """Conditions for bookings on the book that hold part of [start, end); `c` is the model or its columns."""
    return (
        c.deleted_at.is_(None),
        c.on_pinboard.is_(False),
        c.status.in_(ACTIVE_STATUSES),
        c.starts_at < end,
        # no visit is longer than MAX_APPOINTMENT: bounding the start keeps the index range tight
        c.starts_at >= start - MAX_APPOINTMENT,
        c.ends_at > start,
    )


def active_appointments(session: Session, location_id: str | None, start: datetime, end: datetime) -> list[Appointment]:
    stmt = select(Appointment).where(*_holding_time(Appointment, start, end))
    if location_id is not None:
        stmt = stmt.where(Appointment.location_id == location_id)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class Busy:
    provider_id: str
    operatory_id: str | None
    patient_id: str
    interval: Interval


def busy_intervals(session: Session, start: datetime, end: datetime) -> list[Busy]:
    """Active bookings at every location as bare intervals (no ORM objects: this is the hot path)."""
    t = Appointment.__table__.c
    rows = session.execute(
        select(t.provider_id, t.operatory_id, t.patient_id, t.starts_at, t.ends_at).where(*_holding_time(t, start, end))
    )
    return [Busy(r.provider_id, r.operatory_id, r.patient_id, Interval(r.starts_at, r.ends_at)) for r in rows]
