"""The conflicts list: rows the cloud and this workstation disagreed on, for a person to settle.

Sync has already made every workstation agree (the cloud's version is applied, a refused
booking waits on the pinboard); what is left is a choice only a person can make. Resolving
needs the write permission of the record's area, and is audited.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db.models import SyncConflict
from app.db.types import utcnow
from app.domain.errors import UserError
from app.domain.permissions import Scope
from app.services import sync_rows
from app.services.context import Ctx

KEEP_THEIRS, KEEP_MINE, DISMISS = "keep_theirs", "keep_mine", "dismiss"

# which permission settles a conflict on each kind of record, and what a person calls it
_AREAS: dict[str, tuple[Scope, str]] = {
    "appointment": (Scope.APPOINTMENTS_WRITE, "Appointment"),
    "appointment_status_change": (Scope.APPOINTMENTS_WRITE, "Visit step"),
    "patient_recall": (Scope.APPOINTMENTS_WRITE, "Recall"),
    "patient": (Scope.PATIENTS_WRITE, "Patient details"),
    "patient_insurance": (Scope.PATIENTS_WRITE, "Insurance"),
    "medical_alert": (Scope.MEDICAL_WRITE, "Medical alert"),
    "insurance_benefits": (Scope.PATIENTS_WRITE, "Insurance benefits"),
    "chart_entry": (Scope.CHART_WRITE, "Chart entry"),
    "treatment_plan": (Scope.CHART_WRITE, "Treatment plan"),
    "treatment_plan_item": (Scope.CHART_WRITE, "Treatment plan line"),
    "perio_exam": (Scope.CHART_WRITE, "Perio exam"),
    "clinical_note": (Scope.CHART_WRITE, "Clinical note"),
}
_SETUP = (Scope.USERS_ADMIN, "Clinic set-up")


@dataclass(frozen=True)
class ConflictView:
    id: str
    what: str  # "Appointment", "Patient details", ...
    table: str
    row_id: str
    reason: str
    message: str
    detected_at: datetime
    choices: tuple[str, ...]
    mine: dict[str, Any] | None
    theirs: dict[str, Any] | None


def _choices(c: SyncConflict) -> tuple[str, ...]:
    if c.reason in ("changed_on_both", "version_not_newer") and c.local_row:
        return (KEEP_THEIRS, KEEP_MINE)
    return (DISMISS,)


def _view(c: SyncConflict) -> ConflictView:
    return ConflictView(
        id=c.id,
        what=_AREAS.get(c.table_name, _SETUP)[1],
        table=c.table_name,
        row_id=c.row_id,
        reason=c.reason,
        message=c.message,
        detected_at=c.detected_at,
        choices=_choices(c),
        mine=json.loads(c.local_row) if c.local_row else None,
        theirs=json.loads(c.server_row) if c.server_row else None,
    )


def list_open(ctx: Ctx) -> list[ConflictView]:
    """Unresolved conflicts, oldest first (anyone signed in sees that they exist)."""
    with ctx.uow(write=False) as uow:
        found = uow.session.scalars(
            select(SyncConflict).where(SyncConflict.resolved_at.is_(None)).order_by(SyncConflict.detected_at)
        )
        return [_view(c) for c in found]


def resolve(ctx: Ctx, conflict_id: str, choice: str) -> None:
    """Settle one conflict: keep the other workstation's version, put back this one's, or dismiss."""
    with ctx.uow() as uow:
        conflict = uow.session.get(SyncConflict, conflict_id)
        if conflict is None or conflict.resolved_at is not None:
            raise UserError("This conflict was already resolved (perhaps on another screen).")
        if choice not in _choices(conflict):
            raise UserError("That is not one of the choices for this conflict.")
        actor = ctx.require(_AREAS.get(conflict.table_name, _SETUP)[0])
        if choice == KEEP_MINE:
            assert conflict.local_row is not None
            mine = json.loads(conflict.local_row)
            fields = [k for k in mine if k not in ("id", "version", "created_at", "updated_at")]
            try:
                sync_rows.write_local(uow.session.connection(), conflict.table_name, mine, fields)
            except IntegrityError:
                raise UserError(
                    "This workstation's version can no longer be saved (its time is taken now); "
                    "keep the other one and rebook from the pinboard instead."
                ) from None
        conflict.resolved_at = utcnow()
        conflict.resolution = choice
        conflict.resolved_by = actor.user_id
        uow.audit(
            "sync.conflict_resolved",
            entity_type=conflict.table_name,
            entity_id=conflict.row_id,
            details={"choice": choice, "reason": conflict.reason},
        )
        uow.commit()
