"""Setting up the appointment book: locations, chairs, providers' hours, exceptions, blocks and appointment types.

Administrators change these (Scope.SCHEDULE_SETUP); anyone who can read the book can list
them. Every change is audited with what it was before and after, and nothing is
hard-deleted: removed rows get a tombstone (deleted_at) so the sync carries the removal.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import (
    Appointment,
    AppointmentType,
    HoursException,
    Location,
    Operatory,
    ScheduleBlock,
    StaffUser,
    WeeklyHoursRow,
)
from app.db.types import utcnow
from app.domain.errors import FieldError, UserError, ValidationError
from app.domain.permissions import Role, Scope
from app.domain.phones import normalise_phone
from app.domain.scheduling import ACTIVE, local_to_utc
from app.services.context import Ctx, UnitOfWork

PROVIDER_ROLES = (Role.DENTIST.value, Role.HYGIENIST.value)
GRID_CHOICES = (5, 10, 15)
BLOCK_KINDS = ("vacation", "lunch", "meeting", "emergencies_only")
BLOCK_LABELS = {
    "vacation": "Vacation",
    "lunch": "Lunch",
    "meeting": "Meeting",
    "emergencies_only": "Emergencies only",
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_TYPE_MINUTES = 12 * 60
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# procedure codes such as CDT's D0150 or a clinic's own short codes
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,15}$")
_ACTIVE_STATUSES = tuple(str(s) for s in ACTIVE)


class NotFound(UserError):
    pass


# --- what the screens show ----------------------------------------------------------------


@dataclass(frozen=True)
class OperatoryInfo:
    id: str
    location_id: str
    name: str
    sort_order: int
    active: bool


@dataclass(frozen=True)
class LocationInfo:
    id: str
    version: int
    name: str
    time_zone: str
    address: str
    phone: str
    grid_minutes: int
    operatories: tuple[OperatoryInfo, ...] = ()


@dataclass(frozen=True)
class ProviderInfo:
    id: str
    name: str
    role: Role
    colour: str


@dataclass(frozen=True)
class ShiftInfo:
    """One stretch of a provider's usual week, in local wall-clock time at the location."""

    weekday: int
    start: str
    end: str

    @property
    def label(self) -> str:
        """'Monday 08:00–12:00'."""
        return f"{WEEKDAYS[self.weekday]} {self.start}–{self.end}"


@dataclass(frozen=True)
class HoursExceptionInfo:
    id: str
    location_id: str
    provider_id: str | None
    provider_name: str
    day: date
    start: str | None
    end: str | None
    note: str

    @property
    def closed(self) -> bool:
        """True when nobody (or the provider) works that day at all."""
        return self.start is None


@dataclass(frozen=True)
class BlockInfo:
    id: str
    location_id: str
    provider_id: str | None
    provider_name: str
    operatory_id: str | None
    operatory_name: str
    kind: str
    starts_at: datetime | None
    ends_at: datetime | None
    weekday: int | None
    start_local: str | None
    end_local: str | None
    note: str
    time_zone: str

    @property
    def weekly(self) -> bool:
        """True for a block that repeats every week (lunch, a weekly meeting)."""
        return self.weekday is not None

    @property
    def who(self) -> str:
        """Whom the block holds: a provider, a chair, or the whole location."""
        return self.provider_name or self.operatory_name or "Everyone"

    @property
    def when(self) -> str:
        """The block's time as the location's staff read it."""
        if self.weekday is not None:
            return f"Every {WEEKDAYS[self.weekday]} {self.start_local}–{self.end_local}"
        assert self.starts_at is not None and self.ends_at is not None
        tz = ZoneInfo(self.time_zone)
        start, end = self.starts_at.astimezone(tz), self.ends_at.astimezone(tz)
        if start.time() == time(0) and end.time() == time(0):
            last = end.date() - timedelta(days=1)
            if last == start.date():
                return f"{start:%a %d %b %Y} (all day)"
            return f"{start:%a %d %b %Y} – {last:%a %d %b %Y} (all day)"
        if start.date() == end.date():
            return f"{start:%a %d %b %Y} {start:%H:%M}–{end:%H:%M}"
        return f"{start:%a %d %b %Y %H:%M} – {end:%a %d %b %Y %H:%M}"


@dataclass(frozen=True)
class AppointmentTypeInfo:
    id: str
    version: int
    name: str
    default_minutes: int
    colour: str
    default_procedures: tuple[str, ...]
    active: bool


# --- what the forms send ------------------------------------------------------------------


@dataclass(frozen=True)
class LocationInput:
    name: str
    time_zone: str
    address: str = ""
    phone: str = ""
    grid_minutes: int = 10


@dataclass(frozen=True)
class BlockInput:
    """A block: one-off (first_day..last_day, optionally from start_local on the first day to
    end_local on the last) or weekly (weekday with start_local and end_local)."""

    location_id: str
    kind: str
    provider_id: str | None = None
    operatory_id: str | None = None
    first_day: date | None = None
    last_day: date | None = None
    weekday: int | None = None
    start_local: str | None = None
    end_local: str | None = None
    note: str = ""


@dataclass(frozen=True)
class AppointmentTypeInput:
    name: str
    default_minutes: int
    colour: str
    default_procedures: tuple[str, ...] = ()
    active: bool = True


# --- helpers -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    # 'localtime' and 'Factory' open on some machines but name no place a clinic could be
    return frozenset(z for z in available_timezones() if z not in ("localtime", "Factory"))


def check_time_zone(name: str, field: str = "time_zone") -> str:
    """The IANA time-zone name, or a FieldError a person can act on."""
    name = name.strip()
    if not name:
        raise FieldError(field, "Choose the location's time zone, such as America/New_York.")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldError(
            field, f"'{name}' is not a time zone; use a name like America/New_York or Europe/London."
        ) from None
    # the name must be in the IANA list: other files under the zoneinfo folder mean different things elsewhere
    if name not in _zones() and name != "UTC":
        raise FieldError(field, f"'{name}' is not a time zone; use a name like America/New_York or Europe/London.")
    return name


def time_zone_names() -> list[str]:
    """Every IANA time-zone name, sorted, for a picker."""
    return sorted(_zones() | {"UTC"})


def _hhmm(text: str | None, field: str, label: str) -> str:
    """A checked 'HH:MM' (a leading zero may be left out: '8:00')."""
    value = (text or "").strip()
    if len(value) == 4 and value[1] == ":":
        value = "0" + value
    if not _HHMM.match(value):
        raise FieldError(field, f"{label}: '{text or ''}' is not a time; write it as HH:MM, such as 08:30.")
    return value


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def _location(s: Session, location_id: str) -> Location:
    loc = s.get(Location, location_id)
    if loc is None or loc.deleted_at is not None:
        raise NotFound("That location no longer exists.")
    return loc


def _provider(s: Session, provider_id: str) -> StaffUser:
    user = s.get(StaffUser, provider_id)
    if user is None or user.deleted_at is not None:
        raise NotFound("That member of staff no longer exists.")
    if user.role not in PROVIDER_ROLES:
        raise FieldError("provider_id", f"{user.display_name} is not a dentist or hygienist, so has no book to set.")
    return user


def _operatory(s: Session, operatory_id: str) -> Operatory:
    op = s.get(Operatory, operatory_id)
    if op is None or op.deleted_at is not None:
        raise NotFound("That chair no longer exists.")
    return op


def _op_info(o: Operatory) -> OperatoryInfo:
    return OperatoryInfo(o.id, o.location_id, o.name, o.sort_order, o.active)


def _operatories(s: Session, location_id: str) -> list[Operatory]:
    return list(
        s.scalars(
            select(Operatory)
            .where(Operatory.location_id == location_id, Operatory.deleted_at.is_(None))
            .order_by(Operatory.sort_order, Operatory.name)
        )
    )


def _loc_info(s: Session, loc: Location) -> LocationInfo:
    return LocationInfo(
        loc.id,
        loc.version,
        loc.name,
        loc.time_zone,
        loc.address,
        loc.phone,
        loc.grid_minutes,
        tuple(_op_info(o) for o in _operatories(s, loc.id)),
    )


def _type_info(t: AppointmentType) -> AppointmentTypeInfo:
    codes = tuple(c for c in t.default_procedures.split(",") if c)
    return AppointmentTypeInfo(t.id, t.version, t.name, t.default_minutes, t.colour, codes, t.active)


def _changed(uow: UnitOfWork, obj: Any, action: str, entity_type: str, values: dict[str, Any]) -> dict[str, Any]:
    """Apply `values` to `obj` and audit the fields that changed, before and after."""
    before = {k: getattr(obj, k) for k in values if getattr(obj, k) != values[k]}
    after = {k: values[k] for k in before}
    for k, v in values.items():
        setattr(obj, k, v)
    if before:
        uow.session.flush()
        uow.audit(action, entity_type=entity_type, entity_id=obj.id, details={"before": before, "after": after})
    return after


def _future_bookings(s: Session, *, operatory_id: str | None = None, location_id: str | None = None) -> int:
    stmt = (
        select(func.count())
        .select_from(Appointment)
        .where(
            Appointment.deleted_at.is_(None),
            Appointment.on_pinboard.is_(False),
            Appointment.status.in_(_ACTIVE_STATUSES),
            Appointment.ends_at > utcnow(),
        )
    )
    if operatory_id is not None:
        stmt = stmt.where(Appointment.operatory_id == operatory_id)
    if location_id is not None:
        stmt = stmt.where(Appointment.location_id == location_id)
    return s.scalar(stmt) or 0


# --- locations ------------------------------------------------------------------------------


def list_locations(ctx: Ctx) -> list[LocationInfo]:
    """Every location with its chairs (inactive ones too, marked), by name."""
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow(write=False) as uow:
        rows = uow.session.scalars(select(Location).where(Location.deleted_at.is_(None)).order_by(Location.name))
        return [_loc_info(uow.session, loc) for loc in rows]


def check_location(data: LocationInput, phone_region: str) -> dict[str, Any]:
    """The location's fields cleaned, or a ValidationError naming each bad one (no database needed)."""
    errors: list[FieldError] = []
    name = data.name.strip()
    if not name:
        errors.append(FieldError("name", "Give the location a name, such as 'Main Street'."))
    elif len(name) > 200:
        errors.append(FieldError("name", "The location's name is too long (200 characters at most)."))
    tz = ""
    try:
        tz = check_time_zone(data.time_zone)
    except FieldError as e:
        errors.append(e)
    address = data.address.strip()
    if len(address) > 300:
        errors.append(FieldError("address", "The address is too long (300 characters at most)."))
    phone = ""
    try:
        phone = normalise_phone(data.phone, phone_region, field="phone", label="Phone")
    except FieldError as e:
        errors.append(e)
    if data.grid_minutes not in GRID_CHOICES:
        errors.append(FieldError("grid_minutes", "The booking grid must be 5, 10 or 15 minutes."))
    if errors:
        raise ValidationError(errors)
    return {"name": name, "time_zone": tz, "address": address, "phone": phone, "grid_minutes": data.grid_minutes}


def save_location(
    ctx: Ctx, data: LocationInput, location_id: str | None = None, expected_version: int | None = None
) -> LocationInfo:
    """Add a location, or change one (refused if someone else changed it since `expected_version`)."""
    ctx.require(Scope.SCHEDULE_SETUP)
    values = check_location(data, ctx.runtime.info.phone_region)
    with ctx.uow() as uow:
        s = uow.session
        clash = s.scalar(
            select(Location.id).where(
                func.lower(Location.name) == values["name"].lower(),
                Location.deleted_at.is_(None),
                Location.id != (location_id or ""),
            )
        )
        if clash:
            raise ValidationError([FieldError("name", f"There is already a location called '{values['name']}'.")])
        if location_id is None:
            loc = Location(**values)
            s.add(loc)
            s.flush()
            uow.audit("schedule.location_saved", entity_type="location", entity_id=loc.id, details={"after": values})
        else:
            loc = _location(s, location_id)
            if expected_version is not None and loc.version != expected_version:
                raise UserError("Someone else changed this location meanwhile; it has been reloaded. Try again.")
            _changed(uow, loc, "schedule.location_saved", "location", values)
        uow.commit()
        return _loc_info(s, loc)


def remove_location(ctx: Ctx, location_id: str) -> None:
    """Tombstone a location with no bookings to come; its chairs go with it."""
    ctx.require(Scope.SCHEDULE_SETUP)
    with ctx.uow() as uow:
        s = uow.session
        loc = _location(s, location_id)
        waiting = _future_bookings(s, location_id=location_id)
        if waiting:
            raise UserError(f"{loc.name} has {waiting} appointment(s) still to come; move or cancel them first.")
        now = utcnow()
        loc.deleted_at = now
        for op in _operatories(s, location_id):
            op.deleted_at = now
        uow.audit(
            "schedule.location_removed",
            entity_type="location",
            entity_id=loc.id,
            details={"before": {"name": loc.name}},
        )
        uow.commit()


# --- chairs ---------------------------------------------------------------------------------


def _op_name(s: Session, location_id: str, name: str, except_id: str | None = None) -> str:
    name = name.strip()
    if not name:
        raise ValidationError([FieldError("name", "Give the chair a name, such as 'Op 3'.")])
    if len(name) > 100:
        raise ValidationError([FieldError("name", "The chair's name is too long (100 characters at most).")])
    for op in _operatories(s, location_id):
        if op.id != except_id and op.name.lower() == name.lower():
            raise ValidationError([FieldError("name", f"This location already has a chair called '{op.name}'.")])
    return name


def add_operatory(ctx: Ctx, location_id: str, name: str) -> OperatoryInfo:
    """A new chair at the end of the location's list."""
    ctx.require(Scope.SCHEDULE_SETUP)
    with ctx.uow() as uow:
        s = uow.session
        _location(s, location_id)
        clean = _op_name(s, location_id, name)
        last = max((o.sort_order for o in _operatories(s, location_id)), default=-1)
        op = Operatory(location_id=location_id, name=clean, sort_order=last + 1, active=True)
        s.add(op)
        s.flush()
        uow.audit(
            "schedule.operatory_added",
            entity_type="operatory",
            entity_id=op.id,
            details={"after": {"location_id": location_id, "name": clean, "sort_order": op.sort_order}},
        )
        uow.commit()
        return _op_info(op)


def rename_operatory(ctx: Ctx, operatory_id: str, name: str) -> OperatoryInfo:
    ctx.require(Scope.SCHEDULE_SETUP)
    with ctx.uow() as uow:
        op = _operatory(uow.session, operatory_id)
        clean = _op_name(uow.session, op.location_id, name, except_id=op.id)
        _changed(uow, op, "schedule.operatory_renamed", "operatory", {"name": clean})
        uow.commit()
        return _op_info(op)


def reorder_operatories(ctx: Ctx, location_id: str, ordered_ids: Sequence[str]) -> list[OperatoryInfo]:
    """Put the location's chairs in the given order (the day view's columns)."""
    ctx.require(Scope.SCHEDULE_SETUP)
    with ctx.uow() as uow:
        s = uow.session
        _location(s, location_id)
        ops = {o.id: o for o in _operatories(s, location_id)}
        if sorted(ordered_ids) != sorted(ops) or len(set(ordered_ids)) != len(ordered_ids):
            raise UserError("The list of chairs changed meanwhile; it has been reloaded. Try again.")
        before = [o.id for o in sorted(ops.values(), key=lambda o: (o.sort_order, o.name))]
        for n, op_id in enumerate(ordered_ids):
            if ops[op_id].sort_order != n:
                ops[op_id].sort_order = n
        if before != list(ordered_ids):
            uow.audit(
                "schedule.operatories_reordered",
                entity_type="location",
                entity_id=location_id,
                details={"before": before, "after": list(ordered_ids)},
            )
        uow.commit()
        return [_op_info(o) for o in _operatories(s, location_id)]


def set_operatory_active(ctx: Ctx, operatory_id: str, active: bool) -> OperatoryInfo:
    """Take a chair out of use (refused while bookings wait in it), or back into use."""
    ctx.require(Scope.SCHEDULE_SETUP)
    with ctx.uow() as uow:
        s = uow.session
        op = _operatory(s, operatory_id)
        if not active:
            waiting = _future_bookings(s, operatory_id=op.id)
            if waiting:
                raise UserError(
                    f"{op.name} has {waiting} appointment(s) still to come; move them to another chair first."
                )
        action = "schedule.operatory_activated" if active else "schedule.operatory_deactivated"
        _changed(uow, op, action, "operatory", {"active": active})
        uow.commit()
        return _op_info(op)


# --- providers and their weekly hours --------------------------------------------------------


def list_providers(ctx: Ctx) -> list[ProviderInfo]:
    """Active dentists and hygienists: the people who have a book."""
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow(write=False) as uow:
        users = uow.session.scalars(
            select(StaffUser)
            .where(StaffUser.role.in_(PROVIDER_ROLES), StaffUser.active.is_(True), StaffUser.deleted_at.is_(None))
            .order_by(StaffUser.role, StaffUser.display_name)
        )
        return [ProviderInfo(u.id, u.display_name, Role(u.role), u.provider_colour or "#607D8B") for u in users]


def _hours_rows(s: Session, location_id: str, provider_id: str) -> list[WeeklyHoursRow]:
    return list(
        s.scalars(
            select(WeeklyHoursRow)
            .where(
                WeeklyHoursRow.location_id == location_id,
                WeeklyHoursRow.provider_id == provider_id,
                WeeklyHoursRow.deleted_at.is_(None),
            )
            .order_by(WeeklyHoursRow.weekday, WeeklyHoursRow.start_local)
        )
    )


def provider_hours(ctx: Ctx, location_id: str, provider_id: str) -> list[ShiftInfo]:
    """A provider's usual week at a location, by weekday then start."""
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow(write=False) as uow:
        return [
            ShiftInfo(r.weekday, r.start_local, r.end_local) for r in _hours_rows(uow.session, location_id, provider_id)
        ]


def check_week(shifts: Iterable[tuple[int, str, str]]) -> list[ShiftInfo]:
    """A week of shifts checked and sorted: real weekdays and times, each ending after it starts, none overlapping."""
    errors: list[FieldError] = []
    clean: list[ShiftInfo] = []
    for n, (weekday, start, end) in enumerate(shifts):
        field = f"shift_{n}"
        if not isinstance(weekday, int) or not 0 <= weekday <= 6:
            errors.append(FieldError(field, "The weekday must be 0 (Monday) to 6 (Sunday)."))
            continue
        day = WEEKDAYS[weekday]
        try:
            s, e = _hhmm(start, field, f"{day} start"), _hhmm(end, field, f"{day} end")
        except FieldError as err:
            errors.append(err)
            continue
        if _minutes(e) <= _minutes(s):
            errors.append(
                FieldError(
                    field,
                    f"{day} {s}–{e}: the shift must end after it starts (overnight shifts are not supported; "
                    "split them at midnight).",
                )
            )
            continue
        clean.append(ShiftInfo(weekday, s, e))
    clean.sort(key=lambda x: (x.weekday, x.start))
    for a, b in zip(clean, clean[1:], strict=False):
        if a.weekday == b.weekday and _minutes(b.start) < _minutes(a.end):
            errors.append(FieldError("shifts", f"{a.label} and {b.start}–{b.end} overlap; one shift must end first."))
    if errors:
        raise ValidationError(errors)
    return clean


def set_provider_hours(
    ctx: Ctx, location_id: str, provider_id: str, shifts: Sequence[tuple[int, str, str]]
) -> list[ShiftInfo]:
    """Replace a provider's whole week at a location with `shifts` ((weekday, 'HH:MM', 'HH:MM'), 0 = Monday)."""
    ctx.require(Scope.SCHEDULE_SETUP)
    week = check_week(shifts)
    with ctx.uow() as uow:
        s = uow.session
        _location(s, location_id)
        user = _provider(s, provider_id)
        rows = _hours_rows(s, location_id, provider_id)
        before = [ShiftInfo(r.weekday, r.start_local, r.end_local) for r in rows]
        if before != week:
            # keep the rows that stay the same, so an unchanged day syncs nothing
            keep = set(week)
            now = utcnow()
            for r in rows:
                shift = ShiftInfo(r.weekday, r.start_local, r.end_local)
                if shift in keep:
                    keep.discard(shift)
                else:
                    r.deleted_at = now
            for shift in week:
                if shift in keep:
                    s.add(
                        WeeklyHoursRow(
                            location_id=location_id,
                            provider_id=provider_id,
                            weekday=shift.weekday,
                            start_local=shift.start,
                            end_local=shift.end,
                        )
                    )
            s.flush()
            uow.audit(
                "schedule.provider_hours_saved",
                entity_type="staff_user",
                entity_id=provider_id,
                details={
                    "location_id": location_id,
                    "provider": user.display_name,
                    "before": [x.label for x in before],
                    "after": [x.label for x in week],
                },
            )
            uow.commit()
        return week


# --- exceptions to the usual week ------------------------------------------------------------


def list_hours_exceptions(ctx: Ctx, location_id: str, from_day: date | None = None) -> list[HoursExceptionInfo]:
    """Dates with other hours or closed, from `from_day` (all when None), by date."""
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow(write=False) as uow:
        stmt = (
            select(HoursException, StaffUser.display_name)
            .outerjoin(StaffUser, StaffUser.id == HoursException.provider_id)
            .where(HoursException.location_id == location_id, HoursException.deleted_at.is_(None))
            .order_by(HoursException.day, HoursException.start_local)
        )
        if from_day is not None:
            stmt = stmt.where(HoursException.day >= from_day)
        return [
            HoursExceptionInfo(
                e.id, e.location_id, e.provider_id, name or "", e.day, e.start_local, e.end_local, e.note
            )
            for e, name in uow.session.execute(stmt)
        ]


def check_exception(start: str | None, end: str | None, note: str = "") -> tuple[str | None, str | None, str]:
    """(start, end, note) of an hours exception checked; no start and no end means closed that day."""
    errors: list[FieldError] = []
    s_local = e_local = None
    if (start or "").strip() or (end or "").strip():
        try:
            s_local = _hhmm(start, "start", "Start")
            e_local = _hhmm(end, "end", "End")
            if _minutes(e_local) <= _minutes(s_local):
                errors.append(FieldError("end", "The hours must end after they start."))
        except FieldError as e:
            errors.append(e)
    note = note.strip()
    if len(note) > 200:
        errors.append(FieldError("note", "The note is too long (200 characters at most)."))
    if errors:
        raise ValidationError(errors)
    return s_local, e_local, note


def add_hours_exception(
    ctx: Ctx,
    location_id: str,
    day: date,
    *,
    provider_id: str | None = None,
    start: str | None = None,
    end: str | None = None,
    note: str = "",
) -> HoursExceptionInfo:
    """A date with other hours (start and end) or closed (neither), for a provider or, with none, the location."""
    ctx.require(Scope.SCHEDULE_SETUP)
    s_local, e_local, note = check_exception(start, end, note)
    closed = s_local is None
    with ctx.uow() as uow:
        s = uow.session
        _location(s, location_id)
        who = _provider(s, provider_id).display_name if provider_id else ""
        same_day = list(
            s.scalars(
                select(HoursException).where(
                    HoursException.location_id == location_id,
                    HoursException.provider_id.is_(None)
                    if provider_id is None
                    else HoursException.provider_id == provider_id,
                    HoursException.day == day,
                    HoursException.deleted_at.is_(None),
                )
            )
        )
        whom = who or "the location"
        for other in same_day:
            if other.start_local is None or closed:
                state = "closed" if other.start_local is None else f"{other.start_local}–{other.end_local}"
                raise ValidationError(
                    [
                        FieldError(
                            "day", f"{day:%a %d %b %Y} already has an exception for {whom} ({state}); remove it first."
                        )
                    ]
                )
            assert s_local and e_local and other.end_local
            if _minutes(s_local) < _minutes(other.end_local) and _minutes(other.start_local) < _minutes(e_local):
                raise ValidationError(
                    [FieldError("start", f"Those hours overlap {other.start_local}–{other.end_local} on that day.")]
                )
        ex = HoursException(
            location_id=location_id, provider_id=provider_id, day=day, start_local=s_local, end_local=e_local, note=note
        )
        s.add(ex)
        s.flush()
        uow.audit(
            "schedule.hours_exception_added",
            entity_type="hours_exception",
            entity_id=ex.id,
            details={"after": {"provider_id": provider_id, "day": day, "start": s_local, "end": e_local, "note": note}},
        )
        uow.commit()
        return HoursExceptionInfo(ex.id, location_id, provider_id, who, day, s_local, e_local, note)


def remove_hours_exception(ctx: Ctx, exception_id: str) -> None:
    ctx.require(Scope.SCHEDULE_SETUP)
    with ctx.uow() as uow:
        ex = uow.session.get(HoursException, exception_id)
        if ex is None or ex.deleted_at is not None:
            raise NotFound("That exception was already removed.")
        ex.deleted_at = utcnow()
        uow.audit(
            "schedule.hours_exception_removed",
            entity_type="hours_exception",
            entity_id=ex.id,
            details={
                "before": {"provider_id": ex.provider_id, "day": ex.day, "start": ex.start_local, "end": ex.end_local}
            },
        )
        uow.commit()


# --- blocks --------------------------------------------------------------------------------


def _block_info(b: ScheduleBlock, names: dict[str, str], tz: str) -> BlockInfo:
    return BlockInfo(
        b.id,
        b.location_id,
        b.provider_id,
        names.get(b.provider_id or "", ""),
        b.operatory_id,
        names.get(b.operatory_id or "", ""),
        b.kind,
        b.starts_at,
        b.ends_at,
        b.weekday,
        b.start_local,
        b.end_local,
        b.note,
        tz,
    )


def _names(s: Session) -> dict[str, str]:
    out = {u.id: u.display_name for u in s.scalars(select(StaffUser))}
    out.update({o.id: o.name for o in s.scalars(select(Operatory))})
    return out


def list_blocks(ctx: Ctx, location_id: str, from_day: date | None = None) -> list[BlockInfo]:
    """Weekly blocks first (by weekday and time), then one-off blocks ending on or after `from_day`, by start."""
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow(write=False) as uow:
        s = uow.session
        loc = _location(s, location_id)
        stmt = select(ScheduleBlock).where(ScheduleBlock.location_id == location_id, ScheduleBlock.deleted_at.is_(None))
        rows = list(s.scalars(stmt))
        if from_day is not None:
            since = local_to_utc(from_day, time(0), ZoneInfo(loc.time_zone))
            rows = [b for b in rows if b.weekday is not None or (b.ends_at is not None and b.ends_at > since)]
        far = datetime.max.replace(tzinfo=UTC)
        rows.sort(
            key=lambda b: (
                b.weekday is None,
                b.weekday if b.weekday is not None else 0,
                b.start_local or "",
                b.starts_at or far,
            )
        )
        names = _names(s)
        return [_block_info(b, names, loc.time_zone) for b in rows]


def check_block(data: BlockInput, time_zone: str) -> dict[str, Any]:
    """The block's columns, one-off times made UTC instants from local days in `time_zone`; or a ValidationError."""
    tz = ZoneInfo(time_zone)
    errors: list[FieldError] = []
    if data.kind not in BLOCK_KINDS:
        errors.append(FieldError("kind", "Choose what the block is: vacation, lunch, meeting or emergencies only."))
    if data.provider_id and data.operatory_id:
        errors.append(FieldError("provider_id", "A block holds either a provider or a chair, not both."))
    note = data.note.strip()
    if len(note) > 200:
        errors.append(FieldError("note", "The note is too long (200 characters at most)."))
    values: dict[str, Any] = {
        "location_id": data.location_id,
        "kind": data.kind,
        "provider_id": data.provider_id or None,
        "operatory_id": data.operatory_id or None,
        "note": note,
        "starts_at": None,
        "ends_at": None,
        "weekday": None,
        "start_local": None,
        "end_local": None,
    }
    if data.weekday is not None:
        if data.kind == "vacation":
            errors.append(
                FieldError("weekday", "A vacation is for dates, not every week; give the first and last day.")
            )
        if not 0 <= data.weekday <= 6:
            errors.append(FieldError("weekday", "The weekday must be 0 (Monday) to 6 (Sunday)."))
        try:
            start = _hhmm(data.start_local, "start_local", "Start")
            end = _hhmm(data.end_local, "end_local", "End")
            if _minutes(end) <= _minutes(start):
                errors.append(FieldError("end_local", "The block must end after it starts."))
            values.update(weekday=data.weekday, start_local=start, end_local=end)
        except FieldError as e:
            errors.append(e)
    else:
        first, last = data.first_day, data.last_day or data.first_day
        if first is None or last is None:
            errors.append(FieldError("first_day", "Give the block's first day (or a weekday for a weekly block)."))
        elif last < first:
            errors.append(FieldError("last_day", "The last day is before the first day."))
        elif (last - first).days > 366:
            errors.append(FieldError("last_day", "A block can last at most a year."))
        else:
            try:
                start_t = (
                    time.fromisoformat(_hhmm(data.start_local, "start_local", "Start")) if data.start_local else time(0)
                )
                if data.end_local:
                    starts_at = local_to_utc(first, start_t, tz)
                    ends_at = local_to_utc(last, time.fromisoformat(_hhmm(data.end_local, "end_local", "End")), tz)
                else:
                    # no end time: the block runs to the end of the last day
                    starts_at = local_to_utc(first, start_t, tz)
                    ends_at = local_to_utc(last + timedelta(days=1), time(0), tz)
                if ends_at <= starts_at:
                    errors.append(FieldError("end_local", "The block must end after it starts."))
                values.update(starts_at=starts_at, ends_at=ends_at)
            except FieldError as e:
                errors.append(e)
    if errors:
        raise ValidationError(errors)
    return values


def add_block(ctx: Ctx, data: BlockInput) -> BlockInfo:
    """Hold time that cannot be booked: a vacation, a lunch, a meeting, emergencies only."""
    ctx.require(Scope.SCHEDULE_SETUP)
    with ctx.uow() as uow:
        s = uow.session
        loc = _location(s, data.location_id)
        values = check_block(data, loc.time_zone)
        if data.provider_id:
            _provider(s, data.provider_id)
        if data.operatory_id and _operatory(s, data.operatory_id).location_id != loc.id:
            raise ValidationError([FieldError("operatory_id", "That chair is at another location.")])
        block = ScheduleBlock(**values)
        s.add(block)
        s.flush()
        uow.audit("schedule.block_added", entity_type="schedule_block", entity_id=block.id, details={"after": values})
        uow.commit()
        return _block_info(block, _names(s), loc.time_zone)


def remove_block(ctx: Ctx, block_id: str) -> None:
    ctx.require(Scope.SCHEDULE_SETUP)
    with ctx.uow() as uow:
        b = uow.session.get(ScheduleBlock, block_id)
        if b is None or b.deleted_at is not None:
            raise NotFound("That block was already removed.")
        b.deleted_at = utcnow()
        before = {
            k: getattr(b, k)
            for k in (
                "kind",
                "provider_id",
                "operatory_id",
                "starts_at",
                "ends_at",
                "weekday",
                "start_local",
                "end_local",
            )
        }
        uow.audit("schedule.block_removed", entity_type="schedule_block", entity_id=b.id, details={"before": before})
        uow.commit()


# --- appointment types ---------------------------------------------------------------------


def list_appointment_types(ctx: Ctx, *, include_inactive: bool = True) -> list[AppointmentTypeInfo]:
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow(write=False) as uow:
        stmt = select(AppointmentType).where(AppointmentType.deleted_at.is_(None)).order_by(AppointmentType.name)
        if not include_inactive:
            stmt = stmt.where(AppointmentType.active.is_(True))
        return [_type_info(t) for t in uow.session.scalars(stmt)]


def check_appointment_type(data: AppointmentTypeInput) -> dict[str, Any]:
    """The type's fields cleaned (colour upper-case, codes de-duplicated), or a ValidationError."""
    errors: list[FieldError] = []
    name = data.name.strip()
    if not name:
        errors.append(FieldError("name", "Give the appointment type a name, such as 'Filling'."))
    elif len(name) > 100:
        errors.append(FieldError("name", "The name is too long (100 characters at most)."))
    minutes = data.default_minutes
    if not isinstance(minutes, int) or minutes < 5 or minutes > MAX_TYPE_MINUTES or minutes % 5:
        errors.append(FieldError("default_minutes", "The length must be 5 to 720 minutes, in steps of 5."))
    colour = data.colour.strip().upper()
    if not _COLOUR.match(colour):
        errors.append(FieldError("colour", f"'{data.colour}' is not a colour; write it as #RRGGBB, such as #4C8BF5."))
    codes: list[str] = []
    for raw in data.default_procedures:
        code = raw.strip().upper()
        if not code:
            continue
        if not _CODE.match(code):
            errors.append(FieldError("default_procedures", f"'{raw}' is not a procedure code (such as D0150)."))
        elif code not in codes:
            codes.append(code)
    joined = ",".join(codes)
    if len(joined) > 200:
        errors.append(FieldError("default_procedures", "Too many default procedures (200 characters at most)."))
    if errors:
        raise ValidationError(errors)
    return {
        "name": name,
        "default_minutes": minutes,
        "colour": colour,
        "default_procedures": joined,
        "active": data.active,
    }


def save_appointment_type(ctx: Ctx, data: AppointmentTypeInput, type_id: str | None = None) -> AppointmentTypeInfo:
    """Add an appointment type, or change one; existing bookings keep their own times."""
    ctx.require(Scope.SCHEDULE_SETUP)
    values = check_appointment_type(data)
    with ctx.uow() as uow:
        s = uow.session
        clash = s.scalar(
            select(AppointmentType.id).where(
                func.lower(AppointmentType.name) == values["name"].lower(),
                AppointmentType.deleted_at.is_(None),
                AppointmentType.id != (type_id or ""),
            )
        )
        if clash:
            raise ValidationError(
                [FieldError("name", f"There is already an appointment type called '{values['name']}'.")]
            )
        if type_id is None:
            t = AppointmentType(**values)
            s.add(t)
            s.flush()
            uow.audit(
                "schedule.appointment_type_saved",
                entity_type="appointment_type",
                entity_id=t.id,
                details={"after": values},
            )
        else:
            found = s.get(AppointmentType, type_id)
            if found is None or found.deleted_at is not None:
                raise NotFound("That appointment type no longer exists.")
            t = found
            _changed(uow, t, "schedule.appointment_type_saved", "appointment_type", values)
        uow.commit()
        return _type_info(t)


def set_appointment_type_active(ctx: Ctx, type_id: str, active: bool) -> AppointmentTypeInfo:
    """Offer a type for new bookings again, or stop offering it (booked ones keep it)."""
    ctx.require(Scope.SCHEDULE_SETUP)
    with ctx.uow() as uow:
        t = uow.session.get(AppointmentType, type_id)
        if t is None or t.deleted_at is not None:
            raise NotFound("That appointment type no longer exists.")
        action = "schedule.appointment_type_activated" if active else "schedule.appointment_type_deactivated"
        _changed(uow, t, action, "appointment_type", {"active": active})
        uow.commit()
        return _type_info(t)
