"""Clinics (tenants) and their one-time enrolment codes."""

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from sync.server.models import Clinic, EnrolCode, utcnow
from sync.server.services import ServiceError

# Crockford's base32: no I, L, O or U, so a code read aloud or off paper is not misread
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOOK_ALIKES = str.maketrans("OIL", "011")
CODE_GROUPS = 3
CODE_GROUP_LEN = 4


class UnknownClinic(ServiceError):
    pass


def create_clinic(session: Session, name: str) -> Clinic:
    name = name.strip()
    if not name:
        raise ServiceError("A clinic needs a name.")
    clinic = Clinic(id=str(uuid.uuid4()), name=name[:200], created_at=utcnow(), last_seq=0)
    session.add(clinic)
    session.commit()
    return clinic


def get_clinic(session: Session, clinic_id: str) -> Clinic:
    clinic = session.get(Clinic, clinic_id)
    if clinic is None:
        raise UnknownClinic(f"There is no clinic with id {clinic_id}.")
    return clinic


def normalise_code(code: str) -> str:
    """Upper-case, without separators, with the look-alikes Crockford's alphabet folds."""
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    return cleaned.translate(_LOOK_ALIKES)


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def create_enrol_code(session: Session, clinic_id: str, hours: float = 24, now: datetime | None = None) -> str:
    """A new one-time code like 7KQ2-M9XD-4TPA, valid for `hours`; only its hash is stored."""
    if hours <= 0:
        raise ServiceError("An enrolment code must be valid for some time (--hours above 0).")
    get_clinic(session, clinic_id)
    now = now or utcnow()
    # 60 random bits: with expiry and the per-address rate limit, guessing one is hopeless
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LEN))
    code = "-".join(raw[i : i + CODE_GROUP_LEN] for i in range(0, len(raw), CODE_GROUP_LEN))
    session.add(
        EnrolCode(
            code_hash=code_hash(code), clinic_id=clinic_id, created_at=now, expires_at=now + timedelta(hours=hours)
        )
    )
    session.commit()
    return code
