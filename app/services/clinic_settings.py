"""Clinic-wide settings that administrators change: the security policy and chart preferences."""

from sqlalchemy import select

from app.db.models import Clinic
from app.domain import perio, teeth
from app.domain.errors import FieldError, ValidationError
from app.domain.permissions import Scope
from app.services.context import Ctx
from app.services.runtime import SecurityPolicy

LIMITS = {
    "idle_lock_minutes": (1, 240, "Idle lock"),
    "max_failed_logins": (3, 20, "Failed sign-ins before lock-out"),
    "lockout_minutes": (1, 1440, "Lock-out length"),
}


def security_policy(ctx: Ctx) -> SecurityPolicy:
    ctx.require(Scope.USERS_ADMIN)
    return ctx.runtime.policy


def set_security_policy(ctx: Ctx, *, idle_lock_minutes: int, max_failed_logins: int, lockout_minutes: int) -> None:
    """Store a new policy for the clinic; it applies to this workstation at once."""
    ctx.require(Scope.USERS_ADMIN)
    values = {
        "idle_lock_minutes": idle_lock_minutes,
        "max_failed_logins": max_failed_logins,
        "lockout_minutes": lockout_minutes,
    }
    errors = [
        FieldError(key, f"{label} must be between {low} and {high}.")
        for key, (low, high, label) in LIMITS.items()
        if not low <= values[key] <= high
    ]
    if errors:
        raise ValidationError(errors)
    with ctx.uow() as uow:
        clinic = uow.session.scalar(select(Clinic).where(Clinic.id == ctx.runtime.info.clinic_id))
        assert clinic is not None
        before = {k: getattr(clinic, k) for k in values}
        for k, v in values.items():
            setattr(clinic, k, v)
        uow.audit(
            "settings.security_changed",
            entity_type="clinic",
            entity_id=clinic.id,
            details={"before": before, "after": values},
        )
        uow.commit()
    policy = ctx.runtime.policy
    policy.idle_lock_minutes, policy.max_failed_logins, policy.lockout_minutes = (
        idle_lock_minutes,
        max_failed_logins,
        lockout_minutes,
    )


def set_chart_preferences(ctx: Ctx, *, tooth_numbering: str, probing_path: str) -> None:
    """How teeth are named on every screen and report, and the order perio readings are taken."""
    ctx.require(Scope.CATALOGUE_ADMIN)
    errors = []
    if tooth_numbering not in {n.value for n in teeth.Numbering}:
        errors.append(FieldError("tooth_numbering", "Choose Universal, FDI or Palmer numbering."))
    if probing_path not in perio.PROBING_PATHS:
        errors.append(FieldError("probing_path", "Choose one of the probing paths offered."))
    if errors:
        raise ValidationError(errors)
    with ctx.uow() as uow:
        clinic = uow.session.scalar(select(Clinic).where(Clinic.id == ctx.runtime.info.clinic_id))
        assert clinic is not None
        before = {"tooth_numbering": clinic.tooth_numbering, "probing_path": clinic.probing_path}
        clinic.tooth_numbering, clinic.probing_path = tooth_numbering, probing_path
        uow.audit(
            "settings.chart_changed",
            entity_type="clinic",
            entity_id=clinic.id,
            details={"before": before, "after": {"tooth_numbering": tooth_numbering, "probing_path": probing_path}},
        )
        uow.commit()
    ctx.runtime.info.tooth_numbering, ctx.runtime.info.probing_path = tooth_numbering, probing_path
