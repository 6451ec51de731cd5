"""The audit trail: append to the hash chain, verify it, list and export events."""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import AuditEvent, AuditHead, Patient, StaffUser
from app.db.types import UtcDateTime, utcnow
from app.domain.ids import new_id
from app.domain.permissions import Scope
from app.services.context import Ctx
from app.services.runtime import ClinicRuntime
from sync.audit_chain import GENESIS, ChainBreak, ChainedEvent, event_hash, verify_chain

_STAMP = UtcDateTime()


def hashed_fields(ev: AuditEvent) -> dict[str, Any]:
    """What the hash covers: everything but the chain links themselves."""
    return {
        "id": ev.id,
        "occurred_at": _STAMP.process_bind_param(ev.occurred_at, None),
        "workstation_id": ev.workstation_id,
        "user_id": ev.user_id,
        "username": ev.username,
        "action": ev.action,
        "entity_type": ev.entity_type,
        "entity_id": ev.entity_id,
        "patient_id": ev.patient_id,
        "details": ev.details,
    }


def append(session: Session, **values: Any) -> AuditEvent:
    """Add the next event of the chain and move the head, in the caller's transaction."""
    head = session.get(AuditHead, 1)
    seq = head.seq + 1 if head else 1
    prev = head.hash if head else GENESIS
    ev = AuditEvent(seq=seq, id=new_id(), occurred_at=utcnow(), prev_hash=prev, hash="", **values)
    ev.hash = event_hash(prev, seq, hashed_fields(ev))
    session.add(ev)
    if head is None:
        session.add(AuditHead(id=1, seq=seq, hash=ev.hash))
    else:
        head.seq, head.hash = seq, ev.hash
    return ev


def last_change(session: Session, entity_id: str, action_prefix: str) -> AuditEvent | None:
    """The newest event that changed an entity (reads such as '.opened' or '_viewed' skipped)."""
    return session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.entity_id == entity_id,
            AuditEvent.action.like(f"{action_prefix}.%"),
            AuditEvent.action.not_like("%.opened"),
            AuditEvent.action.not_like("%_viewed"),
        )
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )


def stale_message(session: Session, entity_id: str, action_prefix: str, what: str = "This record") -> str:
    """Why a save was refused: someone else saved a newer version first (named when known)."""
    last = last_change(session, entity_id, action_prefix)
    who = f"{last.username} at {last.occurred_at.astimezone():%H:%M on %d %b %Y}" if last else "someone else"
    return (
        f"{what} was changed by {who} while you were editing it, so your changes were not "
        "saved. Reload it to see theirs, then apply yours again."
    )


def verify(runtime: ClinicRuntime) -> ChainBreak | None:
    """The first break in the audit chain, or None when every event is intact."""
    with runtime.sessions() as session:
        head_row = session.get(AuditHead, 1)
        # no head row with events present means the head was removed: (0, GENESIS) flags it
        head = (head_row.seq, head_row.hash) if head_row else (0, GENESIS)

        def events() -> Iterator[ChainedEvent]:
            rows = session.execute(
                select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000)
            ).scalars()
            for ev in rows:
                yield ChainedEvent(ev.seq, ev.prev_hash, ev.hash, hashed_fields(ev))

        return verify_chain(events(), head)


@dataclass(frozen=True)
class AuditFilter:
    patient_id: str | None = None
    user_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    limit: int = 2000


@dataclass(frozen=True)
class AuditRow:
    seq: int
    occurred_at: datetime
    username: str
    workstation_id: str
    action: str
    entity_type: str
    entity_id: str
    patient_id: str | None
    patient_name: str
    details: dict[str, Any]


def _query(session: Session, flt: AuditFilter) -> list[AuditRow]:
    stmt = select(AuditEvent, Patient.first_name, Patient.last_name).outerjoin(
        Patient, Patient.id == AuditEvent.patient_id
    )
    if flt.patient_id:
        stmt = stmt.where(AuditEvent.patient_id == flt.patient_id)
    if flt.user_id:
        stmt = stmt.where(AuditEvent.user_id == flt.user_id)
    if flt.date_from:
        stmt = stmt.where(AuditEvent.occurred_at >= datetime.combine(flt.date_from, time(), UTC))
    if flt.date_to:
        end = datetime.combine(flt.date_to + timedelta(days=1), time(), UTC)
        stmt = stmt.where(AuditEvent.occurred_at < end)
    stmt = stmt.order_by(AuditEvent.seq.desc()).limit(flt.limit)
    return [
        AuditRow(
            seq=ev.seq,
            occurred_at=ev.occurred_at,
            username=ev.username,
            workstation_id=ev.workstation_id,
            action=ev.action,
            entity_type=ev.entity_type,
            entity_id=ev.entity_id,
            patient_id=ev.patient_id,
            patient_name=f"{last}, {first}" if last else "",
            details=json.loads(ev.details or "{}"),
        )
        for ev, first, last in session.execute(stmt)
    ]


def list_events(ctx: Ctx, flt: AuditFilter) -> list[AuditRow]:
    """Events matching the filter, newest first (reading the log is itself audited)."""
    ctx.require(Scope.AUDIT_READ)
    with ctx.uow() as uow:
        rows = _query(uow.session, flt)
        uow.audit("audit.view", details=_filter_details(flt))
        uow.commit()
    return rows


def export_csv(ctx: Ctx, flt: AuditFilter, path: Path) -> int:
    """Write the matching events to a CSV file; returns how many."""
    ctx.require(Scope.AUDIT_READ)
    with ctx.uow() as uow:
        rows = _query(uow.session, flt)
        tmp = path.with_suffix(path.suffix + ".part")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(
                [
                    "seq",
                    "occurred_at_utc",
                    "user",
                    "workstation",
                    "action",
                    "entity_type",
                    "entity_id",
                    "patient_id",
                    "patient",
                    "details",
                ]
            )
            for r in rows:
                out.writerow(
                    [
                        r.seq,
                        r.occurred_at.isoformat(),
                        r.username,
                        r.workstation_id,
                        r.action,
                        r.entity_type,
                        r.entity_id,
                        r.patient_id or "",
                        r.patient_name,
                        json.dumps(r.details, sort_keys=True),
                    ]
                )
        tmp.replace(path)
        uow.audit("audit.export", details={**_filter_details(flt), "rows": len(rows)})
        uow.commit()
    return len(rows)


def _filter_details(flt: AuditFilter) -> dict[str, Any]:
    return {k: v for k, v in vars(flt).items() if v is not None and k != "limit"}


def user_choices(ctx: Ctx) -> list[tuple[str, str]]:
    """(user id, name) pairs for the audit screen's user filter."""
    ctx.require(Scope.AUDIT_READ)
    with ctx.uow(write=False) as uow:
        users = uow.session.scalars(select(StaffUser).order_by(StaffUser.display_name))
        return [(u.id, f"{u.display_name} ({u.username})") for u in users]
