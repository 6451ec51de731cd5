"""Signing in and out, locking the screen, changing one's own password."""

from datetime import timedelta

from sqlalchemy import select

from app.db.models import StaffUser
from app.db.types import utcnow
from app.domain.errors import UserError
from app.domain.permissions import Role
from app.services.context import Actor, Ctx, NotSignedIn, UnitOfWork
from app.services.passwords import hash_password, verify_password
from app.services.runtime import ClinicRuntime


class InvalidCredentials(UserError):
    pass


class AccountLocked(UserError):
    pass


class AccountDisabled(UserError):
    pass


class WeakPassword(UserError):
    pass


def _actor(user: StaffUser) -> Actor:
    return Actor(user.id, user.username, user.display_name, Role(user.role))


def check_password_rules(runtime: ClinicRuntime, password: str) -> None:
    n = runtime.policy.min_password_length
    if len(password) < n:
        raise WeakPassword(f"A password needs at least {n} characters.")


def sign_in(runtime: ClinicRuntime, username: str, password: str) -> Actor:
    """The signed-in actor; every attempt, good or bad, is audited."""
    anonymous = Ctx(runtime, None)
    username = username.strip().lower()
    with anonymous.uow() as uow:
        user = uow.session.scalar(
            select(StaffUser).where(StaffUser.username == username, StaffUser.deleted_at.is_(None))
        )
        now = utcnow()
        if user is not None and user.locked_until and user.locked_until > now:
            uow.audit("auth.sign_in_refused", username=username, user_id=user.id, details={"reason": "locked"})
            uow.commit()
            minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
            raise AccountLocked(f"Too many failed sign-ins: this account is locked for {minutes} more minute(s).")
        if user is None or not verify_password(user.password_hash, password):
            _count_failure(runtime, uow, user, username)
            uow.commit()
            raise InvalidCredentials("Wrong username or password.")
        if not user.active:
            uow.audit("auth.sign_in_refused", username=username, user_id=user.id, details={"reason": "disabled"})
            uow.commit()
            raise AccountDisabled("This account is disabled; ask the practice administrator.")
        user.failed_logins = 0
        user.locked_until = None
        actor = _actor(user)
        uow.audit("auth.sign_in", user_id=user.id, username=user.username)
        uow.commit()
    return actor


def _count_failure(runtime: ClinicRuntime, uow, user: StaffUser | None, username: str) -> None:  # type: ignore[no-untyped-def]
    details: dict[str, object] = {}
    if user is not None:
        user.failed_logins += 1
        details["failed_logins"] = user.failed_logins
        if user.failed_logins >= runtime.policy.max_failed_logins:
            user.locked_until = utcnow() + timedelta(minutes=runtime.policy.lockout_minutes)
            user.failed_logins = 0
            details["locked_minutes"] = runtime.policy.lockout_minutes
    uow.audit("auth.sign_in_failed", username=username, user_id=user.id if user else None, details=details)


def sign_out(ctx: Ctx) -> None:
    if ctx.actor is None:
        return
    with ctx.uow() as uow:
        uow.audit("auth.sign_out")
        uow.commit()


def record_lock(ctx: Ctx, reason: str) -> None:
    """The screen was locked (idle or by hand)."""
    with ctx.uow() as uow:
        uow.audit("auth.screen_locked", details={"reason": reason})
        uow.commit()


def confirm_own_password(ctx: Ctx, uow: UnitOfWork, password: str) -> StaffUser:
    """The signed-in user, once `password` is confirmed as theirs, inside the caller's open
    unit of work; a wrong password counts towards the lock-out (committed before raising)."""
    if ctx.actor is None:
        raise NotSignedIn("Sign in first.")
    user = uow.session.get(StaffUser, ctx.actor.user_id)
    now = utcnow()
    if user is None or not user.active or user.deleted_at is not None:
        raise AccountDisabled("This account is disabled; ask the practice administrator.")
    if user.locked_until and user.locked_until > now:
        raise AccountLocked("Too many failed attempts: this account is locked for a while.")
    if not verify_password(user.password_hash, password):
        _count_failure(ctx.runtime, uow, user, user.username)
        locked = user.locked_until is not None and user.locked_until > now
        uow.commit()
        if locked:
            raise AccountLocked("Too many failed attempts: this account is locked for a while.")
        raise InvalidCredentials("Wrong password.")
    user.failed_logins = 0
    return user


def unlock(ctx: Ctx, password: str) -> None:
    """Unlock the screen for the same user; failures count towards the account lock-out."""
    if ctx.actor is None:
        raise NotSignedIn("Sign in first.")
    with ctx.uow() as uow:
        confirm_own_password(ctx, uow, password)
        uow.audit("auth.screen_unlocked")
        uow.commit()


def change_own_password(ctx: Ctx, old: str, new: str) -> None:
    if ctx.actor is None:
        raise NotSignedIn("Sign in first.")
    check_password_rules(ctx.runtime, new)
    if old == new:
        raise WeakPassword("The new password must differ from the current one.")
    with ctx.uow() as uow:
        user = uow.session.get(StaffUser, ctx.actor.user_id)
        if user is None or not verify_password(user.password_hash, old):
            uow.audit("auth.password_change_failed")
            uow.commit()
            raise InvalidCredentials("The current password is wrong.")
        user.password_hash = hash_password(new)
        user.password_changed_at = utcnow()
        uow.audit("auth.password_changed", entity_type="staff_user", entity_id=user.id)
        uow.commit()
