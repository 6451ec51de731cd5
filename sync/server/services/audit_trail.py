"""Workstations' audit events in the cloud: appended after checking every hash and link, and
checked again, whole, by `chairside-cloud audit verify`.

Every query is bound to one clinic. Events never change once stored (triggers refuse it);
a resend of events already held is skipped, so a retry after a lost reply changes nothing.
"""

from dataclasses import dataclass, field

from sqlalchemy import insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from sync.audit_chain import GENESIS, event_hash
from sync.protocol import AuditEventIn, AuditPush, AuditPushed
from sync.server.models import AuditEvent, utcnow
from sync.server.services import ServiceError

_IN_CHUNK = 500


class AuditAltered(ServiceError):
    """An event does not match its hash, or differs from the copy the cloud holds."""


class AuditGap(ServiceError):
    """An event's predecessor is not in the cloud: the chain must be sent from its start."""


class AuditRetry(ServiceError):
    """Nothing was stored; the same request sent again will be checked afresh."""


def _name(ev: AuditEventIn) -> str:
    # ids and numbers only: this message is shown and may be logged, the fields never are
    return f"audit event {ev.seq} of workstation {ev.fields.get('workstation_id') or '?'}"


def append(session: Session, clinic_id: str, device_id: str, push: AuditPush) -> AuditPushed:
    """Store the events of `push` (one chain, oldest first) that the cloud does not hold yet.

    All or nothing: one event altered, or not following one the cloud holds, refuses the
    whole request with a message naming it.
    """
    events = push.events
    for ev in events:
        if not ev.fields.get("id") or event_hash(ev.prev_hash, ev.seq, ev.fields) != ev.hash:
            raise AuditAltered(
                f"The cloud refused {_name(ev)}: it does not match its hash, so the workstation's audit "
                "trail was altered. Nothing was stored; run `chairside audit verify` on that workstation."
            )
    held = _held(session, clinic_id, [str(ev.fields["id"]) for ev in events])
    for ev in events:
        known = held.get(str(ev.fields["id"]))
        if known is not None and known != ev.hash:
            raise AuditAltered(
                f"The cloud refused {_name(ev)}: it differs from the copy the cloud received earlier, so the "
                "workstation's audit trail was altered since. Nothing was stored."
            )
    _check_links(session, clinic_id, events)
    new = [ev for ev in events if str(ev.fields["id"]) not in held]
    if new:
        now = utcnow()
        rows = [
            {
                "clinic_id": clinic_id,
                "id": str(ev.fields["id"]),
                "workstation_id": str(ev.fields.get("workstation_id") or ""),
                "seq": ev.seq,
                "prev_hash": ev.prev_hash,
                "hash": ev.hash,
                "fields": ev.fields,
                "device_id": device_id,
                "received_at": now,
            }
            for ev in new
        ]
        try:
            session.execute(insert(AuditEvent), rows)
            session.commit()
        except IntegrityError:
            # the same events sent twice at once (a retry racing the first try): the first stored them
            session.rollback()
            raise AuditRetry("These audit events are being stored by another request; sending again.") from None
    return AuditPushed(stored=len(new), known=len(events) - len(new))


def _held(session: Session, clinic_id: str, ids: list[str]) -> dict[str, str]:
    """id -> hash of the events among `ids` the cloud holds."""
    held: dict[str, str] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        query = select(AuditEvent.id, AuditEvent.hash).where(
            AuditEvent.clinic_id == clinic_id, AuditEvent.id.in_(chunk)
        )
        held.update((event_id, digest) for event_id, digest in session.execute(query))
    return held


def _check_links(session: Session, clinic_id: str, events: list[AuditEventIn]) -> None:
    """Each event follows the one before it in the request, or one the cloud holds."""
    before: dict[str, int] = {}  # hash -> seq of the events of this request
    wanted: list[tuple[str, int]] = []
    for ev in events:
        if ev.seq == 1 and ev.prev_hash == GENESIS or before.get(ev.prev_hash) == ev.seq - 1:
            pass
        else:
            wanted.append((ev.prev_hash, ev.seq - 1))
        before[ev.hash] = ev.seq
    if not wanted:
        return
    found: set[tuple[str, int]] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        query = select(AuditEvent.hash, AuditEvent.seq).where(
            AuditEvent.clinic_id == clinic_id, tuple_(AuditEvent.hash, AuditEvent.seq).in_(chunk)
        )
        found.update((digest, seq) for digest, seq in session.execute(query))
    for ev in events:
        if ev.seq > 1 and (ev.prev_hash, ev.seq - 1) in wanted and (ev.prev_hash, ev.seq - 1) not in found:
            raise AuditGap(
                f"The cloud does not hold the event before {_name(ev)}; "
                "send the workstation's audit trail again from its start."
            )
        if ev.seq == 1 and ev.prev_hash != GENESIS:
            raise AuditAltered(f"The cloud refused {_name(ev)}: the first event of a chain must start it.")


@dataclass
class AuditCheck:
    """What `verify` found for one clinic."""

    events: int = 0
    workstations: set[str] = field(default_factory=set)
    breaks: list[str] = field(default_factory=list)  # one line each, ids and numbers only

    @property
    def intact(self) -> bool:
        return not self.breaks


def verify(session: Session, clinic_id: str, limit: int = 20) -> AuditCheck:
    """Recompute every stored event's hash and find every link to an event the cloud lacks."""
    check = AuditCheck()
    stored = (
        select(AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash, AuditEvent.fields)
        .where(AuditEvent.clinic_id == clinic_id)
        .execution_options(yield_per=2_000)
    )
    for seq, prev, digest, fields in session.execute(stored):
        check.events += 1
        check.workstations.add(str(fields.get("workstation_id") or ""))
        if event_hash(prev, seq, fields) != digest:
            check.breaks.append(
                f"event {seq} of workstation {fields.get('workstation_id')} (id {fields.get('id')}) was altered"
            )
    before = aliased(AuditEvent)
    unlinked = (
        select(AuditEvent.seq, AuditEvent.workstation_id, AuditEvent.id)
        .outerjoin(
            before,
            (before.clinic_id == AuditEvent.clinic_id)
            & (before.hash == AuditEvent.prev_hash)
            & (before.seq == AuditEvent.seq - 1),
        )
        .where(AuditEvent.clinic_id == clinic_id, before.id.is_(None))
        .where(~((AuditEvent.seq == 1) & (AuditEvent.prev_hash == GENESIS)))
        .order_by(AuditEvent.workstation_id, AuditEvent.seq)
    )
    for seq, workstation, event_id in session.execute(unlinked):
        check.breaks.append(f"event {seq} of workstation {workstation} (id {event_id}) follows no stored event")
    del check.breaks[limit:]
    return check
