"""The conflicts list: rows the cloud and this workstation disagreed on, for a person to settle.

Sync has already made every workstation agree (the cloud's version is applied, a refused
booking waits on the pinboard); what is left is a choice only a person can make. Resolving
needs the write permission of the record's area, and is audited.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Base, SyncConflict
from app.db.types import utcnow
from app.domain.errors import UserError
from app.domain.permissions import Scope
from app.services import sync_rows
from app.services.context import Ctx
from sync.protocol import instant

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


# what a linked record is called, by the table a reference column points to
_LABELS: dict[str, str] = {
    "patient": "first_name || ' ' || last_name || ' (chart ' || chart_no || ')'",
    "staff_user": "display_name",
    "operatory": "name",
    "appointment_type": "name",
    "location": "name",
    "recall_type": "name",
}


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
    patient: str | None = None  # whose record: "Maria Lopez (chart 1042)"
    starts_at: datetime | None = None  # an appointment's time
    names: dict[str, str] = field(default_factory=dict)  # linked records' ids -> what they are called


def _choices(c: SyncConflict) -> tuple[str, ...]:
    if c.reason in ("changed_on_both", "version_not_newer") and c.local_row:
        return (KEEP_THEIRS, KEEP_MINE)
    return (DISMISS,)


def _references(table: str) -> dict[str, str]:
    """The columns of `table` that point at a record with a name, and that record's table."""
    if table not in Base.metadata.tables:
        return {}
    return {
        column.name: fk.column.table.name
        for column in Base.metadata.tables[table].columns
        for fk in column.foreign_keys
        if fk.column.table.name in _LABELS
    }


def _names(session: Session, table: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    """What the records a conflict's rows point to are called (the patient's own row too)."""
    wanted: dict[str, set[str]] = {}
    for column, target in {**_references(table), **({"id": "patient"} if table == "patient" else {})}.items():
        wanted.setdefault(target, set()).update(r[column] for r in rows if isinstance(r.get(column), str))
    names: dict[str, str] = {}
    for target, ids in wanted.items():
        if ids:
            marks = ", ".join("?" * len(ids))
            found = session.connection().exec_driver_sql(
                f"SELECT id, {_LABELS[target]} FROM {target} WHERE id IN ({marks})", tuple(ids)
            )
            names.update((str(row_id), str(label)) for row_id, label in found)
    return names


def _view(c: SyncConflict, session: Session) -> ConflictView:
    mine = json.loads(c.local_row) if c.local_row else None
    theirs = json.loads(c.server_row) if c.server_row else None
    rows = [r for r in (theirs, mine) if r]
    names = _names(session, c.table_name, rows)
    patient_id = (
        c.row_id if c.table_name == "patient" else next((r["patient_id"] for r in rows if r.get("patient_id")), None)
    )
    starts = next((r["starts_at"] for r in rows if r.get("starts_at")), None) if c.table_name == "appointment" else None
    return ConflictView(
        id=c.id,
        what=_AREAS.get(c.table_name, _SETUP)[1],
        table=c.table_name,
        row_id=c.row_id,
        reason=c.reason,
        message=c.message,
        detected_at=c.detected_at,
        choices=_choices(c),
        mine=mine,
        theirs=theirs,
        patient=names.get(patient_id) if patient_id else None,
        starts_at=instant(starts),
        names=names,
    )


def list_open(ctx: Ctx) -> list[ConflictView]:
    """Unresolved conflicts, oldest first (anyone signed in sees that they exist), each with
    whose record it is; listing patients' names is audited."""
    with ctx.uow() as uow:
        found = uow.session.scalars(
            select(SyncConflict).where(SyncConflict.resolved_at.is_(None)).order_by(SyncConflict.detected_at)
        )
        views = [_view(c, uow.session) for c in found]
        if any(v.patient for v in views):
            uow.audit("sync.conflicts_listed", details={"rows": len(views)})
            uow.commit()
        return views


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
