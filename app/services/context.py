"""Who is calling a service, and the unit of work each call runs in."""

import json
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from app.db.models import StaffUser
from app.domain.errors import UserError
from app.domain.permissions import Role, Scope, scopes_for
from app.services.runtime import ChairsideSession, ClinicRuntime


class PermissionDenied(UserError):
    pass


class NotSignedIn(UserError):
    pass


@dataclass(frozen=True)
class Actor:
    user_id: str
    username: str
    display_name: str
    role: Role

    @property
    def scopes(self) -> frozenset[Scope]:
        return scopes_for(self.role)


@dataclass(frozen=True)
class Ctx:
    """A service call's caller: the open clinic and the signed-in member of staff."""

    runtime: ClinicRuntime
    actor: Actor | None

    def today(self) -> date:
        """The date at the clinic now (its time zone, not this computer's), for dating records."""
        return datetime.now(ZoneInfo(self.runtime.info.time_zone)).date()

    def uow(self, *, write: bool = True) -> "UnitOfWork":
        return UnitOfWork(self.runtime, self.actor, write=write)

    def current_role(self) -> Role:
        """The actor's role as the database says now: a role change or a disabled account
        takes effect on the next call, not at the next sign-in."""
        if self.actor is None:
            raise NotSignedIn("Sign in first.")
        with self.runtime.sessions() as session:
            user = session.get(StaffUser, self.actor.user_id)
            if user is None or not user.active or user.deleted_at is not None:
                raise NotSignedIn("Your account has been disabled; ask the practice administrator.")
            return Role(user.role)

    def allowed(self, scope: Scope) -> bool:
        return scope in scopes_for(self.current_role())

    def require(self, scope: Scope) -> Actor:
        """The actor, if their role holds `scope`; otherwise the refusal is audited and raised."""
        role = self.current_role()
        if scope not in scopes_for(role):
            with self.uow() as uow:
                uow.audit("permission.denied", details={"scope": str(scope)})
                uow.commit()
            raise PermissionDenied(f"Your role ({role.label}) does not allow this ({scope}).")
        assert self.actor is not None
        return self.actor


class UnitOfWork:
    """One transaction: rolls back on exit unless commit() was called."""

    session: ChairsideSession

    def __init__(self, runtime: ClinicRuntime, actor: Actor | None, *, write: bool) -> None:
        self.runtime = runtime
        self.actor = actor
        self.write = write
        self._committed = False

    def __enter__(self) -> "UnitOfWork":
        if self.write:
            self.runtime.write_lock.acquire()
        self.session = self.runtime.sessions()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                self.session.rollback()
            self.session.close()
        finally:
            if self.write:
                self.runtime.write_lock.release()

    def commit(self) -> None:
        self.session.commit()
        self._committed = True

    def audit(
        self,
        action: str,
        *,
        entity_type: str = "",
        entity_id: str = "",
        patient_id: str | None = None,
        details: dict[str, Any] | None = None,
        username: str | None = None,
        user_id: str | None = None,
    ) -> None:
        """Append an audit event to the chain, in this transaction."""
        from app.services.audit import append

        append(
            self.session,
            workstation_id=self.runtime.workstation_id,
            user_id=user_id if user_id is not None else (self.actor.user_id if self.actor else None),
            username=username if username is not None else (self.actor.username if self.actor else ""),
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            patient_id=patient_id,
            details=json.dumps(details or {}, sort_keys=True, default=str),
        )
