"""Send this workstation's audit events to the cloud, which keeps them append-only.

Events go oldest first in batches; the sequence number the cloud last acknowledged is kept
in `local_setting`. A resend after a lost reply is harmless (the cloud skips events it
holds). When the cloud says it lacks an earlier event (its database was restored from an
older state, or this workstation from an older backup of another), the whole chain is sent
again once.
"""

from sqlalchemy import Connection, select

from app.db.models import AuditEvent
from app.services import audit, cloud
from app.services.runtime import ClinicRuntime
from sync.client import CloudRefused
from sync.protocol import AUDIT_BATCH, AuditEventIn, AuditPush, SyncApi

SENT = "sync.audit_sent"
# well under the service's 10 MB request limit, however long the events' details
BATCH_BYTES = 4_000_000
_GAP = 409


def push(runtime: ClinicRuntime, api: SyncApi) -> int:
    """Send what the cloud has not acknowledged; returns how many events were new to it."""
    sent = int(cloud.read_settings(runtime, SENT).get(SENT) or 0)
    try:
        return _send_after(runtime, api, sent)
    except CloudRefused as refused:
        if refused.status != _GAP or sent == 0:
            raise
        return _send_after(runtime, api, 0)


def unsent(conn: Connection) -> int:
    """Audit events written here that the cloud has not acknowledged yet."""
    count = conn.exec_driver_sql(
        "SELECT COUNT(*) FROM audit_event WHERE seq > COALESCE("
        "(SELECT CAST(value AS INTEGER) FROM local_setting WHERE key = ?), 0)",
        (SENT,),
    ).scalar()
    return int(count or 0)


def _send_after(runtime: ClinicRuntime, api: SyncApi, after: int) -> int:
    stored = 0
    while batch := _batch(runtime, after):
        stored += api.push_audit(AuditPush(events=batch)).stored
        after = batch[-1].seq
        cloud.write_settings(runtime, {SENT: str(after)})
    return stored


def _batch(runtime: ClinicRuntime, after: int) -> list[AuditEventIn]:
    with runtime.sessions() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(AUDIT_BATCH)
        )
        batch: list[AuditEventIn] = []
        size = 0
        for ev in events:
            fields = audit.hashed_fields(ev)
            size += len(ev.details or "") + 600  # the other fields and the JSON around them, at most
            if batch and size > BATCH_BYTES:
                break
            batch.append(AuditEventIn(seq=ev.seq, prev_hash=ev.prev_hash, hash=ev.hash, fields=fields))
        return batch
