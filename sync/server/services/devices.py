"""Enrolled workstations: enrolment with a one-time code, token checks, listing and revocation."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.orm import Session

from sync.protocol import REVOKED_MESSAGE
from sync.server.models import Clinic, Device, EnrolCode, utcnow
from sync.server.services import ServiceError
from sync.server.services.clinics import code_hash

# a workstation's last_seen_at is written at most this often: pulls stay read-only
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
TOKEN_PREFIX = "chs_"


class EnrolCodeRefused(ServiceError):
    pass


class NotEnrolled(ServiceError):
    pass


class DeviceRevoked(ServiceError):
    pass


class DeviceNotFound(ServiceError):
    pass


@dataclass(frozen=True)
class Enrolment:
    token: str
    device: Device
    clinic: Clinic


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def enrol(session: Session, code: str, device_name: str, now: datetime | None = None) -> Enrolment:
    """Trade a one-time code for a device token; the code is spent even if two try at once."""
    now = now or utcnow()
    digest = code_hash(code)
    entry = session.get(EnrolCode, digest)
    if entry is None:
        raise EnrolCodeRefused("This enrolment code is not valid. Check it, or ask your administrator for a new one.")
    if entry.used_at is not None:
        raise EnrolCodeRefused(
            "This enrolment code was already used; each code enrols one workstation. Ask for a new one."
        )
    if entry.expires_at <= now:
        raise EnrolCodeRefused("This enrolment code has expired. Ask your administrator for a new one.")
    device = Device(id=str(uuid.uuid4()), clinic_id=entry.clinic_id, name=device_name.strip()[:200] or "Workstation")
    # spent in one statement: of two workstations racing with one code, exactly one wins
    spent = session.execute(
        update(EnrolCode)
        .where(EnrolCode.code_hash == digest, EnrolCode.used_at.is_(None))
        .values(used_at=now, device_id=device.id)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise EnrolCodeRefused(
            "This enrolment code was already used; each code enrols one workstation. Ask for a new one."
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    device.token_hash = token_hash(token)
    device.created_at = now
    session.add(device)
    clinic = session.get_one(Clinic, entry.clinic_id)
    session.commit()
    return Enrolment(token=token, device=device, clinic=clinic)


@dataclass(frozen=True)
class Caller:
    """The workstation behind a token, and its clinic's change sequence read in the same query."""

    id: str
    clinic_id: str
    clinic_seq: int


# built once, run on the session's connection without the ORM's layer: this runs on every
# request of every workstation (the no-change poll is mostly this query)
_LOOK_UP = (
    select(Device.id, Device.clinic_id, Device.revoked_at, Device.last_seen_at, Clinic.last_seq)
    .join(Clinic, Clinic.id == Device.clinic_id)
    .where(Device.token_hash == bindparam("token_hash"))
)


def _look_up(session: Session, token: str) -> Row[Any] | None:
    return session.connection().execute(_LOOK_UP, {"token_hash": token_hash(token)}).one_or_none()


def _seen_recently(last_seen_at: datetime | None, now: datetime) -> bool:
    return last_seen_at is not None and now - last_seen_at < LAST_SEEN_RESOLUTION


def authenticate(session: Session, token: str, now: datetime | None = None) -> Caller:
    """The enrolled, unrevoked device holding `token`; notes when it was last seen."""
    found = _look_up(session, token)
    if found is None:
        raise NotEnrolled(
            "This workstation is not enrolled with this cloud service; enrol it with a code from your administrator."
        )
    if found.revoked_at is not None:
        raise DeviceRevoked(REVOKED_MESSAGE)
    now = now or utcnow()
    if not _seen_recently(found.last_seen_at, now):
        session.execute(update(Device).where(Device.id == found.id).values(last_seen_at=now))
        session.commit()
    return Caller(found.id, found.clinic_id, found.last_seq)


def polled_at_head(session: Session, token: str, cursor: int, now: datetime | None = None) -> bool:
    """Whether `token` is an enrolled, unrevoked workstation, noted as seen within the last
    minute, whose clinic's change sequence is still `cursor`: a poll with nothing to answer.
    Only reads; every other case (a refusal, a note to write, changes) is `authenticate`'s."""
    found = _look_up(session, token)
    return (
        found is not None
        and found.revoked_at is None
        and _seen_recently(found.last_seen_at, now or utcnow())
        and found.last_seq == cursor
    )


def list_devices(session: Session, clinic_id: str) -> list[Device]:
    return list(session.scalars(select(Device).where(Device.clinic_id == clinic_id).order_by(Device.created_at)))


def revoke(session: Session, clinic_id: str, device_id: str, now: datetime | None = None) -> Device:
    """Revoke a workstation of this clinic; another clinic's device is 'not found', never touched."""
    device = session.scalars(select(Device).where(Device.id == device_id, Device.clinic_id == clinic_id)).one_or_none()
    if device is None:
        raise DeviceNotFound("There is no such workstation in this clinic.")
    if device.revoked_at is None:
        device.revoked_at = now or utcnow()
        session.commit()
    return device
