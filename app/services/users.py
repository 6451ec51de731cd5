"""Staff accounts, managed by administrators."""

from dataclasses import dataclass

from sqlalchemy import func, select

from app.db.models import StaffUser
from app.db.types import utcnow
from app.domain.errors import FieldError, UserError, ValidationError
from app.domain.permissions import Role, Scope
from app.services.auth import check_password_rules
from app.services.context import Ctx
from app.services.passwords import hash_password


class LastAdministrator(UserError):
    pass


@dataclass(frozen=True)
class StaffSummary:
    id: str
    username: str
    display_name: str
    role: Role
    active: bool
    locked: bool
    licence_no: str
    provider_colour: str


@dataclass(frozen=True)
class NewStaff:
    username: str
    display_name: str
    role: Role
    password: str
    licence_no: str = ""
    provider_colour: str = ""


def _summary(u: StaffUser) -> StaffSummary:
    locked = u.locked_until is not None and u.locked_until > utcnow()
    return StaffSummary(
        u.id, u.username, u.display_name, Role(u.role), u.active, locked, u.licence_no, u.provider_colour
    )


def list_staff(ctx: Ctx) -> list[StaffSummary]:
    ctx.require(Scope.USERS_ADMIN)
    with ctx.uow(write=False) as uow:
        users = uow.session.scalars(
            select(StaffUser).where(StaffUser.deleted_at.is_(None)).order_by(StaffUser.display_name)
        )
        return [_summary(u) for u in users]


def add_staff(ctx: Ctx, new: NewStaff) -> StaffSummary:
    ctx.require(Scope.USERS_ADMIN)
    username = new.username.strip().lower()
    errors = []
    if not username or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        errors.append(FieldError("username", "Username: letters, digits, dots, dashes only."))
    if not new.display_name.strip():
        errors.append(FieldError("display_name", "Name is required."))
    try:
        check_password_rules(ctx.runtime, new.password)
    except UserError as e:
        errors.append(FieldError("password", str(e)))
    with ctx.uow() as uow:
        taken = uow.session.scalar(select(StaffUser.id).where(StaffUser.username == username))
        if taken:
            errors.append(FieldError("username", f"Username '{username}' is already taken."))
        if errors:
            raise ValidationError(errors)
        user = StaffUser(
            username=username,
            display_name=new.display_name.strip(),
            role=Role(new.role).value,
            password_hash=hash_password(new.password),
            active=True,
            failed_logins=0,
            licence_no=new.licence_no.strip(),
            provider_colour=new.provider_colour.strip(),
            password_changed_at=utcnow(),
        )
        uow.session.add(user)
        uow.session.flush()
        uow.audit(
            "staff.added",
            entity_type="staff_user",
            entity_id=user.id,
            details={"username": username, "role": user.role},
        )
        uow.commit()
        return _summary(user)


def _other_active_admins(ctx: Ctx, user_id: str) -> int:
    with ctx.uow(write=False) as uow:
        return (
            uow.session.scalar(
                select(func.count())
                .select_from(StaffUser)
                .where(
                    StaffUser.role == Role.ADMINISTRATOR.value,
                    StaffUser.active.is_(True),
                    StaffUser.id != user_id,
                    StaffUser.deleted_at.is_(None),
                )
            )
            or 0
        )


def _change(ctx: Ctx, user_id: str, action: str, **values: object) -> StaffSummary:
    with ctx.uow() as uow:
        user = uow.session.get(StaffUser, user_id)
        if user is None:
            raise UserError("That staff account no longer exists.")
        before = {k: getattr(user, k) for k in values}
        for k, v in values.items():
            setattr(user, k, v)
        uow.audit(
            action,
            entity_type="staff_user",
            entity_id=user.id,
            details={"username": user.username, "before": before, "after": values},
        )
        uow.commit()
        return _summary(user)


def set_active(ctx: Ctx, user_id: str, active: bool) -> StaffSummary:
    actor = ctx.require(Scope.USERS_ADMIN)
    if not active:
        if user_id == actor.user_id:
            raise UserError("You cannot disable your own account.")
        if _other_active_admins(ctx, user_id) == 0 and _is_admin(ctx, user_id):
            raise LastAdministrator("The clinic needs at least one active administrator.")
    return _change(ctx, user_id, "staff.enabled" if active else "staff.disabled", active=active)


def set_role(ctx: Ctx, user_id: str, role: Role) -> StaffSummary:
    ctx.require(Scope.USERS_ADMIN)
    if role is not Role.ADMINISTRATOR and _is_admin(ctx, user_id) and _other_active_admins(ctx, user_id) == 0:
        raise LastAdministrator("The clinic needs at least one active administrator.")
    return _change(ctx, user_id, "staff.role_changed", role=Role(role).value)


def reset_password(ctx: Ctx, user_id: str, password: str) -> StaffSummary:
    ctx.require(Scope.USERS_ADMIN)
    check_password_rules(ctx.runtime, password)
    with ctx.uow() as uow:
        user = uow.session.get(StaffUser, user_id)
        if user is None:
            raise UserError("That staff account no longer exists.")
        user.password_hash = hash_password(password)
        user.password_changed_at = utcnow()
        user.failed_logins, user.locked_until = 0, None
        uow.audit(
            "staff.password_reset",
            entity_type="staff_user",
            entity_id=user.id,
            details={"username": user.username},
        )
        uow.commit()
        return _summary(user)


def _is_admin(ctx: Ctx, user_id: str) -> bool:
    with ctx.uow(write=False) as uow:
        user = uow.session.get(StaffUser, user_id)
        return user is not None and user.role == Role.ADMINISTRATOR.value
