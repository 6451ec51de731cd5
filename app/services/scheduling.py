"""The appointment book: booking, moving, the visit workflow, the pinboard and finding slots.

Every booking rule is checked here and again by the database (overlap triggers), so a
double booking cannot be stored whichever way a change arrives.
"""

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.db.models import (
    Appointment,
    AppointmentStatusChange,
    AppointmentType,
    MedicalAlert,
    Operatory,
    Patient,
    StaffUser,
)
from app.db.types import utcnow
from app.domain.errors import UserError
from app.domain.permissions import Role, Scope
from app.domain.scheduling import (
    Interval,
    SlotOption,
    SlotPreference,
    VisitStatus,
    find_slots,
    local_day_bounds,
    make_interval,
    merge,
    transition,
)
from app.services import audit, availability, recalls, reminders
from app.services.context import Ctx

PROVIDER_ROLES = (Role.DENTIST.value, Role.HYGIENIST.value)


class DoubleBooking(UserError):
    pass


class OutsideHours(UserError):
    pass


class StaleAppointment(UserError):
    pass


class NotFound(UserError):
    pass


@dataclass(frozen=True)
class AppointmentView:
    id: str
    version: int
    patient_id: str
    patient_name: str
    has_alerts: bool
    provider_id: str
    provider_name: str
    provider_colour: str
    operatory_id: str | None
    operatory_name: str
    location_id: str
    type_id: str | None
    type_name: str
    type_colour: str
    starts_at: datetime | None
    ends_at: datetime | None
    time_zone: str
    status: VisitStatus
    note: str
    on_pinboard: bool
    cancel_reason: str = ""

    @property
    def minutes(self) -> int:
        if self.starts_at is None or self.ends_at is None:
            return 0
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


@dataclass(frozen=True)
class Resource:
    id: str
    name: str
    colour: str = ""


@dataclass(frozen=True)
class DayBook:
    """Everything the day view draws for one location and local day."""

    location_id: str
    location_name: str
    time_zone: str
    grid_minutes: int
    day: date
    bounds: Interval
    operatories: tuple[Resource, ...]
    providers: tuple[Resource, ...]
    appointments: tuple[AppointmentView, ...]
    available: dict[str, list[Interval]] = field(default_factory=dict)  # provider -> bookable time
    blocks: tuple[availability.BlockView, ...] = ()


@dataclass(frozen=True)
class BookingRequest:
    patient_id: str
    provider_id: str
    location_id: str
    starts_at: datetime
    ends_at: datetime
    operatory_id: str | None = None
    type_id: str | None = None
    note: str = ""
    outside_hours_reason: str = ""


# --- reading -----------------------------------------------------------------------------


def _views(session: Session, rows: list[Appointment]) -> list[AppointmentView]:
    if not rows:
        return []
    patient_ids = {a.patient_id for a in rows}
    patients = {
        p.id: p
        for p in session.execute(
            select(Patient.id, Patient.first_name, Patient.last_name, Patient.preferred_name).where(
                Patient.id.in_(patient_ids)
            )
        )
    }
    alerted = set(
        session.scalars(
            select(MedicalAlert.patient_id).where(
                MedicalAlert.patient_id.in_(patient_ids), MedicalAlert.deleted_at.is_(None)
            )
        )
    )
    staff = {u.id: u for u in session.scalars(select(StaffUser).where(StaffUser.id.in_({a.provider_id for a in rows})))}
    op_ids = {a.operatory_id for a in rows if a.operatory_id}
    type_ids = {a.appointment_type_id for a in rows if a.appointment_type_id}
    ops = {o.id: o.name for o in session.scalars(select(Operatory).where(Operatory.id.in_(op_ids)))}
    types = {t.id: t for t in session.scalars(select(AppointmentType).where(AppointmentType.id.in_(type_ids)))}
    out = []
    for a in rows:
        p = patients.get(a.patient_id)
        name = f"{p.last_name}, {p.preferred_name or p.first_name}" if p else "?"
        u = staff.get(a.provider_id)
        t = types.get(a.appointment_type_id) if a.appointment_type_id else None
        out.append(
            AppointmentView(
                id=a.id,
                version=a.version,
                patient_id=a.patient_id,
                patient_name=name,
                has_alerts=a.patient_id in alerted,
                provider_id=a.provider_id,
                provider_name=u.display_name if u else "?",
                provider_colour=(u.provider_colour if u else "") or "#607D8B",
                operatory_id=a.operatory_id,
                operatory_name=ops.get(a.operatory_id, "") if a.operatory_id else "",
                location_id=a.location_id,
                type_id=a.appointment_type_id,
                type_name=t.name if t else "",
                type_colour=t.colour if t else "#90A4AE",
                starts_at=a.starts_at,
                ends_at=a.ends_at,
                time_zone=a.time_zone,
                status=VisitStatus(a.status),
                note=a.note,
                on_pinboard=a.on_pinboard,
                cancel_reason=a.cancel_reason,
            )
        )
    return out


def providers(session: Session) -> list[Resource]:
    users = session.scalars(
        select(StaffUser)
        .where(StaffUser.role.in_(PROVIDER_ROLES), StaffUser.active.is_(True), StaffUser.deleted_at.is_(None))
        .order_by(StaffUser.role, StaffUser.display_name)
    )
    return [Resource(u.id, u.display_name, u.provider_colour or "#607D8B") for u in users]


def operatories(session: Session, location_id: str) -> list[Resource]:
    rows = session.scalars(
        select(Operatory)
        .where(Operatory.location_id == location_id, Operatory.active.is_(True), Operatory.deleted_at.is_(None))
        .order_by(Operatory.sort_order, Operatory.name)
    )
    return [Resource(o.id, o.name) for o in rows]


def day_book(ctx: Ctx, location_id: str, day: date) -> DayBook:
    """The day's bookings, chairs, providers, their bookable time and blocks."""
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow(write=False) as uow:
        s = uow.session
        loc, tz = availability.location_tz(s, location_id)
        bounds = local_day_bounds(day, tz)
        rows = availability.active_appointments(s, location_id, bounds.start, bounds.end)
        block_list = availability.blocks(s, location_id, tz, day, day)
        hours = availability.provider_hours(s, location_id, tz, day, day)
        return DayBook(
            location_id=loc.id,
            location_name=loc.name,
            time_zone=loc.time_zone,
            grid_minutes=loc.grid_minutes,
            day=day,
            bounds=bounds,
            operatories=tuple(operatories(s, location_id)),
            providers=tuple(providers(s)),
            appointments=tuple(sorted(_views(s, rows), key=lambda v: (v.starts_at, v.id))),
            available=availability.available(hours, block_list),
            blocks=tuple(block_list),
        )


def range_appointments(ctx: Ctx, location_id: str, first: date, last: date) -> list[AppointmentView]:
    """Active bookings over local days first..last (the week view)."""
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow(write=False) as uow:
        _loc, tz = availability.location_tz(uow.session, location_id)
        start, end = local_day_bounds(first, tz).start, local_day_bounds(last, tz).end
        rows = availability.active_appointments(uow.session, location_id, start, end)
        return sorted(_views(uow.session, rows), key=lambda v: (v.starts_at, v.id))


def month_capacity(ctx: Ctx, location_id: str, year: int, month: int) -> dict[date, tuple[int, int]]:
    """Local day -> (bookable minutes, booked minutes) across all providers at the location."""
    ctx.require(Scope.APPOINTMENTS_READ)
    first = date(year, month, 1)
    last = (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)
    with ctx.uow(write=False) as uow:
        s = uow.session
        _loc, tz = availability.location_tz(s, location_id)
        free = availability.available(
            availability.provider_hours(s, location_id, tz, first, last),
            availability.blocks(s, location_id, tz, first, last),
        )
        start, end = local_day_bounds(first, tz).start, local_day_bounds(last, tz).end
        # plain (start, end) pairs: the rows expire when the read-only unit of work rolls back
        booked = [(a.starts_at, a.ends_at) for a in availability.active_appointments(s, location_id, start, end)]
    out: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for intervals in free.values():
        for iv in intervals:
            out[iv.start.astimezone(tz).date()][0] += int(iv.duration.total_seconds() // 60)
    for starts_at, ends_at in booked:
        assert starts_at is not None and ends_at is not None
        out[starts_at.astimezone(tz).date()][1] += int((ends_at - starts_at).total_seconds() // 60)
    return {d: (v[0], v[1]) for d, v in out.items()}


def patient_appointments(ctx: Ctx, patient_id: str) -> list[AppointmentView]:
    """All of a patient's appointments, future and past, newest first (cancelled ones too)."""
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow() as uow:
        rows = list(
            uow.session.scalars(
                select(Appointment).where(Appointment.patient_id == patient_id, Appointment.deleted_at.is_(None))
            )
        )
        uow.audit("patient.appointments_viewed", entity_type="patient", entity_id=patient_id, patient_id=patient_id)
        uow.commit()
        far = datetime.max.replace(tzinfo=UTC)
        return sorted(_views(uow.session, rows), key=lambda v: v.starts_at or far, reverse=True)


def pinboard(ctx: Ctx, location_id: str) -> list[AppointmentView]:
    """Appointments taken off the book, waiting to be rebooked."""
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow(write=False) as uow:
        rows = list(
            uow.session.scalars(
                select(Appointment).where(
                    Appointment.location_id == location_id,
                    Appointment.on_pinboard.is_(True),
                    Appointment.deleted_at.is_(None),
                    Appointment.status.in_(availability.ACTIVE_STATUSES),
                )
            )
        )
        return _views(uow.session, rows)


def waiting_room(ctx: Ctx, location_id: str, now: datetime | None = None) -> list[tuple[AppointmentView, timedelta]]:
    """Arrived patients not yet seated, longest wait first."""
    ctx.require(Scope.APPOINTMENTS_READ)
    now = now or utcnow()
    with ctx.uow(write=False) as uow:
        s = uow.session
        rows = list(
            s.scalars(
                select(Appointment).where(
                    Appointment.location_id == location_id,
                    Appointment.status == VisitStatus.ARRIVED.value,
                    Appointment.deleted_at.is_(None),
                )
            )
        )
        arrived = {
            c.appointment_id: c.changed_at
            for c in s.scalars(
                select(AppointmentStatusChange).where(
                    AppointmentStatusChange.appointment_id.in_([a.id for a in rows]),
                    AppointmentStatusChange.to_status == VisitStatus.ARRIVED.value,
                )
            )
        }
        views = _views(s, rows)
    waits = [(v, now - arrived.get(v.id, now)) for v in views]
    return sorted(waits, key=lambda vw: vw[1], reverse=True)


# --- rules -------------------------------------------------------------------------------


def _clock(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%H:%M")


def _check_overlaps(
    s: Session, appt_id: str | None, iv: Interval, provider_id: str, operatory_id: str | None, patient_id: str
) -> None:
    """Refuse, naming the clash, when the provider, chair or patient is already booked then."""
    for other in availability.active_appointments(s, None, iv.start, iv.end):
        if other.id == appt_id:
            continue
        if other.provider_id == provider_id:
            what = "the provider already has"
        elif operatory_id and other.operatory_id == operatory_id:
            what = "the chair is taken by"
        elif other.patient_id == patient_id:
            what = "the patient already has"
        else:
            continue
        view = _views(s, [other])[0]
        assert other.starts_at and other.ends_at
        raise DoubleBooking(
            f"That time is not free: {what} {view.patient_name} with {view.provider_name} "
            f"from {_clock(other.starts_at, other.time_zone)} to {_clock(other.ends_at, other.time_zone)}."
        )


def _check_hours(ctx: Ctx, s: Session, location_id: str, provider_id: str, iv: Interval, reason: str) -> None:
    """Booking outside the provider's bookable time needs a permission and a reason."""
    _loc, tz = availability.location_tz(s, location_id)
    first, last = iv.start.astimezone(tz).date(), iv.end.astimezone(tz).date()
    free = availability.available(
        availability.provider_hours(s, location_id, tz, first, last, provider_id),
        availability.blocks(s, location_id, tz, first, last, provider_id),
    ).get(provider_id, [])
    if any(f.start <= iv.start and iv.end <= f.end for f in merge(free)):
        return
    if not ctx.allowed(Scope.APPOINTMENTS_OVERRIDE_HOURS):
        raise OutsideHours(
            "That time is outside the provider's working hours (or in a block). "
            "Booking it needs a dentist or administrator."
        )
    if not reason.strip():
        raise OutsideHours("That time is outside the provider's working hours: give a reason to book it anyway.")


def _stale(s: Session, appointment_id: str) -> StaleAppointment:
    last = audit.last_change(s, appointment_id, "appointment")
    appt = s.get(Appointment, appointment_id)
    # the clinic's wall clock, not the workstation's
    tz = ZoneInfo(appt.time_zone) if appt is not None else None
    who = f"{last.username} at {last.occurred_at.astimezone(tz):%H:%M}" if last else "someone else"
    return StaleAppointment(f"This appointment was changed by {who}; the book has been reloaded. Try again.")


def _load(s: Session, appointment_id: str, expected_version: int | None) -> Appointment:
    a = s.get(Appointment, appointment_id)
    if a is None or a.deleted_at is not None:
        raise NotFound("That appointment no longer exists.")
    if expected_version is not None and a.version != expected_version:
        raise _stale(s, appointment_id)
    return a


def _commit(ctx: Ctx, uow, s: Session, appointment_id: str) -> None:  # type: ignore[no-untyped-def]
    """Commit, turning the database's own refusals into the same messages as ours."""
    with _refusals(s, appointment_id):
        uow.commit()


@contextmanager
def _refusals(s: Session, appointment_id: str) -> Iterator[None]:
    """The database's own refusals (at flush or commit) as the same errors as ours."""
    try:
        yield
    except IntegrityError as e:
        s.rollback()
        if "appointment overlap" in str(e.orig):
            raise DoubleBooking("That time was just taken by another booking; the book has been reloaded.") from None
        raise
    except StaleDataError:
        s.rollback()
        raise _stale(s, appointment_id) from None


def _patient_exists(s: Session, patient_id: str) -> None:
    p = s.get(Patient, patient_id)
    if p is None or p.deleted_at is not None:
        raise NotFound("That patient record does not exist.")
    if p.archived_at is not None:
        raise UserError("This patient is archived; bring the record back before booking.")


# --- changing ----------------------------------------------------------------------------


def book(ctx: Ctx, req: BookingRequest) -> AppointmentView:
    """Book an appointment; refused with a reason if it clashes or falls outside hours."""
    ctx.require(Scope.APPOINTMENTS_WRITE)
    iv = make_interval(req.starts_at, req.ends_at)
    with ctx.uow() as uow:
        s = uow.session
        _patient_exists(s, req.patient_id)
        loc, _tz = availability.location_tz(s, req.location_id)
        _check_hours(ctx, s, req.location_id, req.provider_id, iv, req.outside_hours_reason)
        _check_overlaps(s, None, iv, req.provider_id, req.operatory_id, req.patient_id)
        a = Appointment(
            patient_id=req.patient_id,
            provider_id=req.provider_id,
            operatory_id=req.operatory_id,
            location_id=req.location_id,
            appointment_type_id=req.type_id,
            starts_at=iv.start,
            ends_at=iv.end,
            time_zone=loc.time_zone,
            status=VisitStatus.SCHEDULED.value,
            note=req.note.strip(),
            outside_hours_reason=req.outside_hours_reason.strip(),
            on_pinboard=False,
        )
        s.add(a)
        # the insert reaches the overlap trigger here, before the commit
        with _refusals(s, ""):
            s.flush()
        uow.audit(
            "appointment.booked",
            entity_type="appointment",
            entity_id=a.id,
            patient_id=req.patient_id,
            details={
                "starts_at": iv.start.isoformat(),
                "ends_at": iv.end.isoformat(),
                "provider_id": req.provider_id,
                "operatory_id": req.operatory_id,
                "outside_hours_reason": a.outside_hours_reason,
            },
        )
        _commit(ctx, uow, s, a.id)
        return _views(s, [a])[0]


def move(
    ctx: Ctx,
    appointment_id: str,
    expected_version: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    provider_id: str | None = None,
    operatory_id: str | None = None,
    outside_hours_reason: str = "",
) -> AppointmentView:
    """Move or resize (or rebook from the pinboard) an appointment the user saw at `expected_version`."""
    ctx.require(Scope.APPOINTMENTS_WRITE)
    iv = make_interval(starts_at, ends_at)
    with ctx.uow() as uow:
        s = uow.session
        a = _load(s, appointment_id, expected_version)
        if a.status not in (VisitStatus.SCHEDULED.value, VisitStatus.CONFIRMED.value):
            state = VisitStatus(a.status).value.replace("_", "-")
            raise UserError(f"{'An' if state[0] in 'aeiou' else 'A'} {state} appointment cannot be moved.")
        provider = provider_id or a.provider_id
        chair = operatory_id if operatory_id is not None else a.operatory_id
        _check_hours(ctx, s, a.location_id, provider, iv, outside_hours_reason)
        _check_overlaps(s, a.id, iv, provider, chair, a.patient_id)
        before = {
            "starts_at": a.starts_at,
            "ends_at": a.ends_at,
            "provider_id": a.provider_id,
            "operatory_id": a.operatory_id,
            "on_pinboard": a.on_pinboard,
        }
        a.starts_at, a.ends_at, a.provider_id, a.operatory_id = iv.start, iv.end, provider, chair
        a.on_pinboard = False
        if outside_hours_reason.strip():
            a.outside_hours_reason = outside_hours_reason.strip()
        # the update reaches the overlap trigger and the version check here, not inside audit's autoflush
        with _refusals(s, a.id):
            s.flush()
        after = {
            "starts_at": iv.start,
            "ends_at": iv.end,
            "provider_id": provider,
            "operatory_id": chair,
            "on_pinboard": False,
        }
        uow.audit(
            "appointment.moved",
            entity_type="appointment",
            entity_id=a.id,
            patient_id=a.patient_id,
            details={"before": before, "after": after},
        )
        if before["starts_at"] is not None and before["starts_at"] != iv.start:
            # the patient hears of a new time at once (high queue), in this same transaction
            reminders.notify_moved(s, a, clinic=ctx.runtime.info)
        _commit(ctx, uow, s, a.id)
        return _views(s, [a])[0]


def _record_step(ctx: Ctx, s: Session, a: Appointment, from_status: str, to_status: str, reason: str) -> None:
    """One row of the visit's history: who moved it from which state to which, when and why."""
    s.add(
        AppointmentStatusChange(
            appointment_id=a.id,
            from_status=from_status,
            to_status=to_status,
            changed_by=ctx.actor.user_id if ctx.actor else None,
            changed_at=utcnow(),
            reason=reason,
        )
    )


def to_pinboard(ctx: Ctx, appointment_id: str, expected_version: int) -> AppointmentView:
    """Take an appointment off the book (its time freed) to rebook it later."""
    ctx.require(Scope.APPOINTMENTS_WRITE)
    with ctx.uow() as uow:
        s = uow.session
        a = _load(s, appointment_id, expected_version)
        if a.status not in (VisitStatus.SCHEDULED.value, VisitStatus.CONFIRMED.value):
            raise UserError("Only a scheduled or confirmed appointment can go to the pinboard.")
        before = {"starts_at": a.starts_at, "ends_at": a.ends_at, "status": a.status}
        if a.status != VisitStatus.SCHEDULED.value:
            # a confirmation was for the old time: the history keeps it and says why it lapsed
            _record_step(ctx, s, a, a.status, VisitStatus.SCHEDULED.value, "moved to the pinboard")
        a.on_pinboard = True
        a.starts_at = a.ends_at = None
        a.status = VisitStatus.SCHEDULED.value
        with _refusals(s, a.id):
            s.flush()
        uow.audit(
            "appointment.pinboarded",
            entity_type="appointment",
            entity_id=a.id,
            patient_id=a.patient_id,
            details={"before": before},
        )
        _commit(ctx, uow, s, a.id)
        return _views(s, [a])[0]


def set_status(
    ctx: Ctx, appointment_id: str, expected_version: int, target: VisitStatus, reason: str = ""
) -> AppointmentView:
    """Move a visit along its workflow (confirm, arrive, seat, complete, cancel, no-show, broken)."""
    ctx.require(Scope.APPOINTMENTS_WRITE)
    with ctx.uow() as uow:
        s = uow.session
        a = _load(s, appointment_id, expected_version)
        current = VisitStatus(a.status)
        transition(current, target)
        if a.on_pinboard and target in (VisitStatus.ARRIVED, VisitStatus.SEATED, VisitStatus.COMPLETED):
            raise UserError("This appointment is on the pinboard: give it a time on the book first.")
        if target is VisitStatus.CANCELLED and not reason.strip():
            raise UserError("Give a reason for the cancellation (e.g. 'patient ill').")
        a.status = target.value
        if target is VisitStatus.CANCELLED:
            a.cancel_reason = reason.strip()
        _record_step(ctx, s, a, current.value, target.value, reason.strip())
        with _refusals(s, a.id):
            s.flush()
        uow.audit(
            "appointment.status_changed",
            entity_type="appointment",
            entity_id=a.id,
            patient_id=a.patient_id,
            details={"before": current.value, "after": target.value, "reason": reason.strip()},
        )
        if target is VisitStatus.CANCELLED:
            reminders.notify_cancellation(s, a, clinic=ctx.runtime.info)
        if target is VisitStatus.COMPLETED:
            for r in recalls.refresh_after_visit(s, a):
                uow.audit(
                    "recall.refreshed",
                    entity_type="patient_recall",
                    entity_id=r.id,
                    patient_id=r.patient_id,
                    details={"last_completed": r.last_completed, "due_date": r.due_date, "appointment_id": a.id},
                )
        _commit(ctx, uow, s, a.id)
        return _views(s, [a])[0]


def status_history(ctx: Ctx, appointment_id: str) -> list[tuple[str, str, datetime, str, str]]:
    """(from, to, when, who, reason) for each step of a visit, oldest first."""
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow(write=False) as uow:
        rows = uow.session.execute(
            select(AppointmentStatusChange, StaffUser.display_name)
            .outerjoin(StaffUser, StaffUser.id == AppointmentStatusChange.changed_by)
            .where(AppointmentStatusChange.appointment_id == appointment_id)
            .order_by(AppointmentStatusChange.changed_at)
        )
        return [(c.from_status, c.to_status, c.changed_at, name or "", c.reason) for c, name in rows]


# --- finding a slot ------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotQuery:
    location_id: str
    length: timedelta
    first_day: date
    last_day: date
    provider_ids: tuple[str, ...] = ()  # empty: every provider
    operatory_ids: tuple[str, ...] = ()  # empty: any chair
    patient_id: str | None = None
    prefer: SlotPreference = SlotPreference()
    limit: int = 10


def next_available(ctx: Ctx, q: SlotQuery) -> list[SlotOption]:
    """Ranked free slots: working hours minus blocks minus bookings, with the patient's wishes."""
    ctx.require(Scope.APPOINTMENTS_READ)
    if q.last_day < q.first_day:
        raise UserError("The search ends before it starts.")
    if (q.last_day - q.first_day).days > 366:
        raise UserError("Search at most a year ahead.")
    with ctx.uow(write=False) as uow:
        s = uow.session
        loc, tz = availability.location_tz(s, q.location_id)
        start = max(local_day_bounds(q.first_day, tz).start, utcnow())
        chairs = operatories(s, q.location_id)
        labels = {r.id: r.name for r in (*providers(s), *chairs)}
        # most answers lie in the first days: search a week, widen only while a later
        # slot could still beat the options found (every later slot scores at least its wait)
        for days in (7, 35, 400):
            last_day = min(q.first_day + timedelta(days=days), q.last_day)
            options = _search(s, q, loc.grid_minutes, tz, start, last_day, chairs, labels)
            searched_to = local_day_bounds(last_day, tz).end
            if last_day == q.last_day or (
                len(options) == q.limit
                and max(o.score for o in options) <= (searched_to - start) / timedelta(minutes=1)
            ):
                return options
        return options


def _search(
    s: Session,
    q: SlotQuery,
    grid_minutes: int,
    tz: ZoneInfo,
    start: datetime,
    last_day: date,
    chairs: list[Resource],
    labels: dict[str, str],
) -> list[SlotOption]:
    """find_slots over [start, end of last_day] with hours, blocks and every location's bookings."""
    first_day = start.astimezone(tz).date()
    window = Interval(start, local_day_bounds(last_day, tz).end)
    if window.end <= window.start:
        return []
    block_list = availability.blocks(s, q.location_id, tz, first_day, last_day)
    free = availability.available(availability.provider_hours(s, q.location_id, tz, first_day, last_day), block_list)
    if q.provider_ids:
        free = {pid: iv for pid, iv in free.items() if pid in q.provider_ids}
    by_provider: dict[str, list[Interval]] = defaultdict(list)
    by_chair: dict[str, list[Interval]] = defaultdict(list)
    patient_busy: list[Interval] = []
    # bookings at every location: a provider or patient cannot be in two places at once
    for b in availability.busy_intervals(s, window.start, window.end):
        by_provider[b.provider_id].append(b.interval)
        if b.operatory_id:
            by_chair[b.operatory_id].append(b.interval)
        if q.patient_id and b.patient_id == q.patient_id:
            patient_busy.append(b.interval)
    # a chair taken out of service (block on the operatory) is busy for everyone
    for blk in block_list:
        if blk.operatory_id:
            by_chair[blk.operatory_id].append(blk.interval)
    chair_ids = list(q.operatory_ids) or [c.id for c in chairs]
    return find_slots(
        length=q.length,
        providers=free,
        busy_by_provider=by_provider,
        operatories={cid: by_chair.get(cid, []) for cid in chair_ids},
        patient_busy=patient_busy,
        window=window,
        tz=tz,
        grid=timedelta(minutes=grid_minutes),
        prefer=q.prefer,
        use_operatories=chair_ids,
        labels=labels,
        limit=q.limit,
    )


def book_slot(
    ctx: Ctx, option: SlotOption, *, patient_id: str, location_id: str, type_id: str | None = None, note: str = ""
) -> AppointmentView:
    """Book one of next_available's options in one step."""
    return book(
        ctx,
        BookingRequest(
            patient_id=patient_id,
            provider_id=option.provider_id,
            location_id=location_id,
            starts_at=option.start,
            ends_at=option.end,
            operatory_id=option.operatory_id,
            type_id=type_id,
            note=note,
        ),
    )
