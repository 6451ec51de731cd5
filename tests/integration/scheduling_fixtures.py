"""Helpers that set up an appointment book directly with rows (not a test module).

The schedule set-up service is written separately; these helpers only need the models, so
the booking tests do not depend on it.
"""

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import keyring
from sqlalchemy import text

from app import bootstrap
from app.db import keys
from app.db.models import (
    AppointmentType,
    HoursException,
    Location,
    Operatory,
    PatientRecall,
    RecallType,
    ScheduleBlock,
    StaffUser,
    WeeklyHoursRow,
)
from app.db.types import utcnow
from app.domain.patients import PatientInput
from app.domain.permissions import Role
from app.domain.scheduling import local_to_utc
from app.services import auth, patients, users
from app.services.context import Actor, Ctx
from app.services.runtime import ClinicRuntime
from app.services.scheduling import BookingRequest
from tests.conftest import ADMIN_PASSWORD, PASSPHRASE, STAFF_PASSWORD, MemoryKeyring

WEEKDAYS = (0, 1, 2, 3, 4)
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)
# a Monday far enough ahead that next_available's "not before now" never cuts into it
FUTURE_MONDAY = date(2031, 3, 3)


@dataclass(frozen=True)
class Template:
    """A clinic with one member of staff per role, made once and copied for each test.

    Making a clinic costs about half a second (key wrapping, migrations, password hashes);
    copying its folder costs milliseconds, which keeps the booking tests quick.
    """

    data_dir: Path
    clinic_id: str
    key: bytes
    actors: dict[Role, Actor]


def make_template(data_dir: Path) -> Template:
    """Create the clinic to copy, with staff signed in once to learn who they are."""
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        rt = bootstrap.create_clinic(
            data_dir, clinic_name="Test Dental", passphrase=PASSPHRASE, admin_password=ADMIN_PASSWORD
        )
        admin = Ctx(rt, auth.sign_in(rt, "admin", ADMIN_PASSWORD))
        assert admin.actor is not None
        actors = {Role.ADMINISTRATOR: admin.actor}
        for role in (Role.DENTIST, Role.HYGIENIST, Role.RECEPTIONIST):
            users.add_staff(admin, users.NewStaff(role.value, f"Test {role.label}", role, STAFF_PASSWORD))
            actors[role] = auth.sign_in(rt, role.value, STAFF_PASSWORD)
        key = keys.keyring_load(rt.info.clinic_id)
        assert key is not None
        with rt.engine.connect() as conn:
            # everything into the main file, so copying the folder copies the whole clinic
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        clinic_id = rt.info.clinic_id
        rt.close()
    finally:
        keyring.set_keyring(previous)
    return Template(data_dir, clinic_id, key, actors)


def open_copy(template: Template, data_dir: Path) -> ClinicRuntime:
    """A fresh copy of the template clinic, opened with its key from the (test's) keyring."""
    shutil.copytree(template.data_dir, data_dir)
    keys.keyring_store(template.clinic_id, template.key)
    return bootstrap.open_clinic(data_dir, lambda: PASSPHRASE)


def contexts(runtime: ClinicRuntime, template: Template) -> dict[Role, Ctx]:
    """A signed-in context per role on an opened copy (as the conftest `staff` fixture gives)."""
    return {role: Ctx(runtime, actor) for role, actor in template.actors.items()}


@dataclass(frozen=True)
class Book:
    """The ids of a location set up for booking tests."""

    location_id: str
    time_zone: str
    chair_ids: tuple[str, ...]
    provider_ids: tuple[str, ...]
    provider_names: tuple[str, ...]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def at(self, day: date, clock: str) -> datetime:
        """The UTC instant of a local wall-clock time at this location."""
        return local_to_utc(day, time.fromisoformat(clock), self.tz)

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.tz)

    def request(
        self,
        patient_id: str,
        day: date,
        start: str,
        end: str,
        *,
        provider: int = 0,
        chair: int | None = 0,
        end_day: date | None = None,
        reason: str = "",
        type_id: str | None = None,
    ) -> BookingRequest:
        """A booking request in local wall-clock times (`end_day` for visits past midnight)."""
        return BookingRequest(
            patient_id=patient_id,
            provider_id=self.provider_ids[provider],
            location_id=self.location_id,
            starts_at=self.at(day, start),
            ends_at=self.at(end_day or day, end),
            operatory_id=None if chair is None else self.chair_ids[chair],
            type_id=type_id,
            outside_hours_reason=reason,
        )


def make_book(
    ctx: Ctx,
    *,
    tz: str = "America/New_York",
    chairs: int = 3,
    providers: int = 2,
    hours: Sequence[tuple[int, str, str]] = tuple((d, "08:00", "17:00") for d in WEEKDAYS),
    lunch: tuple[str, str] | None = ("12:00", "13:00"),
    grid_minutes: int = 10,
    name: str = "Main Street",
    provider_role: Role = Role.DENTIST,
) -> Book:
    """A location with chairs and providers who work `hours` (weekday, 'HH:MM', 'HH:MM') with lunch off."""
    with ctx.uow() as uow:
        s = uow.session
        loc = Location(name=name, time_zone=tz, grid_minutes=grid_minutes)
        s.add(loc)
        s.flush()
        chair_rows = [Operatory(location_id=loc.id, name=f"Op {i + 1}", sort_order=i) for i in range(chairs)]
        s.add_all(chair_rows)
        tag = loc.id[-6:]
        staff = [
            StaffUser(
                username=f"prov{i + 1}-{tag}",
                display_name=f"Dr Provider {i + 1}",
                role=provider_role.value,
                password_hash="!",  # cannot sign in: these are providers on the book only
                provider_colour="#3366CC",
            )
            for i in range(providers)
        ]
        s.add_all(staff)
        s.flush()
        for u in staff:
            for weekday, start, end in hours:
                s.add(
                    WeeklyHoursRow(
                        location_id=loc.id, provider_id=u.id, weekday=weekday, start_local=start, end_local=end
                    )
                )
                if lunch is not None:
                    s.add(
                        ScheduleBlock(
                            location_id=loc.id,
                            provider_id=u.id,
                            kind="lunch",
                            weekday=weekday,
                            start_local=lunch[0],
                            end_local=lunch[1],
                        )
                    )
        s.flush()
        book = Book(
            location_id=loc.id,
            time_zone=tz,
            chair_ids=tuple(c.id for c in chair_rows),
            provider_ids=tuple(u.id for u in staff),
            provider_names=tuple(u.display_name for u in staff),
        )
        uow.commit()
    return book


def add_patient(ctx: Ctx, first: str, last: str, **extra: object) -> str:
    """A registered patient's id (through the patients service, as the front desk does)."""
    return patients.register(
        ctx, PatientInput(first_name=first, last_name=last, date_of_birth="1980-05-17", **extra)
    ).id  # type: ignore[arg-type]


def add_block(
    ctx: Ctx,
    book: Book,
    start: datetime,
    end: datetime,
    *,
    provider: int | None = 0,
    chair: int | None = None,
    kind: str = "vacation",
) -> str:
    """A one-off block (vacation, meeting) for a provider, a chair, or the whole location."""
    with ctx.uow() as uow:
        b = ScheduleBlock(
            location_id=book.location_id,
            provider_id=None if provider is None else book.provider_ids[provider],
            operatory_id=None if chair is None else book.chair_ids[chair],
            kind=kind,
            starts_at=start.astimezone(UTC),
            ends_at=end.astimezone(UTC),
        )
        uow.session.add(b)
        uow.commit()
        return b.id


def add_hours(ctx: Ctx, book: Book, provider: int, weekday: int, start: str, end: str) -> None:
    """Another stretch of weekly hours for one provider (an end before the start runs past midnight)."""
    with ctx.uow() as uow:
        uow.session.add(
            WeeklyHoursRow(
                location_id=book.location_id,
                provider_id=book.provider_ids[provider],
                weekday=weekday,
                start_local=start,
                end_local=end,
            )
        )
        uow.commit()


def add_day_off(ctx: Ctx, book: Book, provider: int | None, day: date) -> None:
    """A date a provider (or, with None, the whole location) does not work."""
    with ctx.uow() as uow:
        uow.session.add(
            HoursException(
                location_id=book.location_id,
                provider_id=None if provider is None else book.provider_ids[provider],
                day=day,
            )
        )
        uow.commit()


def add_appointment_type(ctx: Ctx, name: str = "Hygiene visit", minutes: int = 60) -> str:
    with ctx.uow() as uow:
        t = AppointmentType(name=name, default_minutes=minutes, colour="#4CAF50")
        uow.session.add(t)
        uow.commit()
        return t.id


def add_recall_type(ctx: Ctx, code: str, months: int, appointment_type_id: str | None) -> str:
    with ctx.uow() as uow:
        r = RecallType(
            code=code, name=f"{code} recall", interval_months=months, appointment_type_id=appointment_type_id
        )
        uow.session.add(r)
        uow.commit()
        return r.id


def add_recall(ctx: Ctx, patient: str, recall_type: str, due: date, *, contacted: bool = False) -> str:
    """A patient's recall due on `due` (last visit six months before), optionally already contacted."""
    with ctx.uow() as uow:
        r = PatientRecall(
            patient_id=patient,
            recall_type_id=recall_type,
            last_completed=due - timedelta(days=182),
            due_date=due,
            contacted_at=utcnow() if contacted else None,
        )
        uow.session.add(r)
        uow.commit()
        return r.id


def clear_appointments(ctx: Ctx) -> None:
    """Remove every appointment (test clean-up only: the change-log hook refuses ORM deletes)."""
    with ctx.uow() as uow:
        uow.session.execute(text("DELETE FROM appointment_status_change"))
        uow.session.execute(text("DELETE FROM appointment"))
        uow.commit()


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
