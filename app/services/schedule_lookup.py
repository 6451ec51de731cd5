"""Small read-only lists the appointment book needs: locations and appointment types."""

from dataclasses import dataclass

from sqlalchemy import select

from app.db.models import AppointmentType, Location
from app.domain.permissions import Scope
from app.services.context import Ctx


@dataclass(frozen=True)
class LocationChoice:
    id: str
    name: str
    time_zone: str
    grid_minutes: int


@dataclass(frozen=True)
class TypeChoice:
    id: str
    name: str
    minutes: int
    colour: str


def locations(ctx: Ctx) -> list[LocationChoice]:
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow(write=False) as uow:
        rows = uow.session.scalars(select(Location).where(Location.deleted_at.is_(None)).order_by(Location.name))
        return [LocationChoice(r.id, r.name, r.time_zone, r.grid_minutes) for r in rows]


def appointment_types(ctx: Ctx) -> list[TypeChoice]:
    ctx.require(Scope.APPOINTMENTS_READ)
    with ctx.uow(write=False) as uow:
        rows = uow.session.scalars(
            select(AppointmentType)
            .where(AppointmentType.deleted_at.is_(None), AppointmentType.active.is_(True))
            .order_by(AppointmentType.name)
        )
        return [TypeChoice(r.id, r.name, r.default_minutes, r.colour) for r in rows]


def book_stamp(ctx: Ctx) -> str:
    """Changes whenever any appointment changes: open books poll it to refresh within a second."""
    from sqlalchemy import func

    from app.db.models import Appointment, LocalSetting

    with ctx.uow(write=False) as uow:
        stamp = uow.session.scalar(select(func.max(Appointment.updated_at)))
        # pulled rows keep the other workstation's times, which may be older: the sync cursor moves
        pulled = uow.session.scalar(select(LocalSetting.value).where(LocalSetting.key == "sync.cursor"))
        return f"{stamp.isoformat() if stamp else ''}|{pulled or ''}"
