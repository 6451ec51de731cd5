"""The durable outbox: messages to patients queued in the database, sent by workers, once.

Exactly once, and what that means here
--------------------------------------
No transport can be made exactly-once on its own: the far side may accept a message and
the workstation may lose power before it writes that down. We get exactly-once *delivery
as the patient sees it* from at-least-once sending plus de-duplication at both ends:

1. Queueing once. Every message has a `dedupe_key` naming why it exists (for example
   ``appt:<appointment>:<rule>:<start>``), unique in the table; `enqueue` inserts with
   INSERT ... ON CONFLICT DO NOTHING in the caller's transaction. A reminder scan that
   runs twice, runs on after a crash, or runs again after a restart queues no second copy.
2. One sender at a time. `claim_next` moves a due message from 'pending' to 'sending' with
   a lease (`claimed_until`) and counts the attempt, in one transaction under the runtime's
   write lock, with a conditional UPDATE, so two workers never hold the same message. The
   claim is committed *before* anything is sent.
3. Sent is final. After the transport accepts the message, `deliver` marks it 'sent' in its
   own transaction. Every later step only touches rows still 'sending' or 'pending', so a
   message marked 'sent' is never claimed, retried or sent again, whatever restarts follow.
4. The crash window. If the process dies after the transport accepted the message but
   before 'sent' was committed, the row stays 'sending' until its lease runs out; then a
   worker (after a restart, or another thread) claims it again and re-sends it. That
   re-send carries the same identity: the email's Message-ID and the SMS gateway's
   idempotency key are both derived from the outbox id. The SMS gateway drops the
   duplicate; mail systems and clients collapse messages with one Message-ID, and a person
   reading the log can see it is one message. This window is the time between the far
   side's "accepted" and our commit: milliseconds.
5. A crash before sending simply leaves a claimed, unsent message: after the lease it is
   sent normally (once), and the lost attempt is counted.

Priority
--------
`OutboxWorker` takes one message at a time and asks the 'high' queue first before every
single message, so a cancellation queued during a batch of 10,000 reminders waits for at
most the one message in flight. 'standard' and 'billing' take turns when 'high' is empty,
so neither starves the other. The background jobs also run a worker that drains only
'high', so a slow standard transport (an SMTP server timing out) cannot hold it up either.
"""

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from threading import Event

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db.models import OutboxMessage, Patient
from app.db.types import utcnow
from app.domain.errors import UserError
from app.domain.ids import new_id
from app.domain.permissions import Scope
from app.services.context import Ctx
from app.services.messaging.transports import Envelope, Transport, TransportError
from app.services.runtime import ClinicRuntime

log = logging.getLogger(__name__)

HIGH, STANDARD, BILLING = "high", "standard", "billing"
QUEUES = (HIGH, STANDARD, BILLING)
CHANNELS = ("email", "sms")
MAX_ATTEMPTS = 5
# longer than any transport's timeouts added up, so a live sender never loses its claim
DEFAULT_LEASE = timedelta(minutes=5)

PENDING, SENDING, SENT, FAILED, WITHDRAWN = "pending", "sending", "sent", "failed", "withdrawn"


class MessageNotFound(UserError):
    pass


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: base * 2^(attempts-1), capped, with a little jitter against bursts."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.1

    def delay(self, attempts: int) -> timedelta:
        raw = min(self.base * (2 ** max(attempts - 1, 0)), self.cap)
        return raw * (1 + random.uniform(0, self.jitter))


DEFAULT_BACKOFF = Backoff()


@dataclass(frozen=True)
class MessageView:
    """One outbox message as staff see it."""

    id: str
    created_at: datetime
    queue: str
    channel: str
    recipient: str
    subject: str
    preview: str
    status: str
    attempts: int
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str
    patient_id: str | None
    patient_name: str = ""


# --- queueing ----------------------------------------------------------------------------


def enqueue(
    session: Session,
    *,
    queue: str,
    dedupe_key: str,
    patient_id: str | None,
    channel: str,
    recipient: str,
    subject: str,
    body: str,
    not_before: datetime | None = None,
) -> str | None:
    """Queue a message in the caller's transaction; the new id, or None if `dedupe_key` was queued before."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    message_id = new_id()
    stmt = (
        sqlite_insert(OutboxMessage)
        .values(
            id=message_id,
            queue=queue,
            dedupe_key=dedupe_key,
            patient_id=patient_id,
            channel=channel,
            recipient=recipient,
            subject=subject[:200],
            body=body,
            status=PENDING,
            attempts=0,
            next_attempt_at=not_before or utcnow(),
            claimed_until=None,
            last_error="",
            created_at=utcnow(),
            sent_at=None,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    result = session.execute(stmt)
    return message_id if result.rowcount == 1 else None  # type: ignore[attr-defined]


def withdraw(session: Session, dedupe_prefix: str) -> int:
    """Withdraw unclaimed messages whose dedupe key starts with the prefix (a cancelled visit's reminders)."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == PENDING, OutboxMessage.dedupe_key.startswith(dedupe_prefix, autoescape=True))
        .values(status=WITHDRAWN, last_error="withdrawn: no longer applies")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- claiming and delivering -----------------------------------------------------------


def _claimable(queue: str, now: datetime):  # type: ignore[no-untyped-def]
    return and_(
        OutboxMessage.queue == queue,
        or_(
            and_(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now),
            # a claim whose lease ran out: its sender died (crash, power cut) before finishing
            and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_until <= now),
        ),
    )


def claim_next(
    runtime: ClinicRuntime, queue: str, now: datetime | None = None, lease: timedelta = DEFAULT_LEASE
) -> OutboxMessage | None:
    """Claim the oldest due message of `queue` (committed before sending), or None if none is due."""
    now = now or utcnow()
    with runtime.write_lock, runtime.sessions() as session:
        for _ in range(3):
            candidate = session.scalar(
                select(OutboxMessage.id)
                .where(_claimable(queue, now))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.created_at)
                .limit(1)
            )
            if candidate is None:
                return None
            # the same condition again in the UPDATE: another process may have claimed it meanwhile
            result = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == candidate, _claimable(queue, now))
                .values(status=SENDING, claimed_until=now + lease, attempts=OutboxMessage.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                session.commit()
                return session.get(OutboxMessage, candidate, populate_existing=True)
            session.rollback()
    return None


def deliver(
    runtime: ClinicRuntime,
    message: OutboxMessage,
    transports: Mapping[str, Transport],
    *,
    now: datetime | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    max_attempts: int = MAX_ATTEMPTS,
    hold_until: Callable[[datetime], datetime] | None = None,
) -> str:
    """Send a claimed message and record the outcome: 'sent', 'pending' (retry later) or 'failed'.

    `hold_until` maps an instant to the earliest one a non-urgent message may go out at
    (quiet hours), so a retry is not scheduled into the night.
    """
    transport = transports.get(message.channel)
    error: TransportError | None = None
    if transport is None:
        error = TransportError(f"no {message.channel} transport is configured", permanent=False)
    else:
        try:
            transport.send(Envelope(message.id, message.recipient, message.subject, message.body))
        except TransportError as e:
            error = e
        except Exception as e:  # a bug in a transport must not kill the worker or lose the message
            log.error("outbox message %s: unexpected transport error (%s)", message.id, type(e).__name__)
            error = TransportError(f"unexpected error ({type(e).__name__})", permanent=False)
    now = now or utcnow()
    if error is None:
        # only a row still 'sending' changes: 'sent' stays final even if another worker raced us
        values: dict[str, object] = {"status": SENT, "sent_at": now, "claimed_until": None, "last_error": ""}
        guard = OutboxMessage.status == SENDING
        outcome = SENT
    elif error.permanent or message.attempts >= max_attempts:
        values = {"status": FAILED, "claimed_until": None, "last_error": str(error)[:500]}
        # the attempt count is our claim token: a stale sender must not undo a newer claim
        guard = and_(OutboxMessage.status == SENDING, OutboxMessage.attempts == message.attempts)
        outcome = FAILED
    else:
        retry_at = now + backoff.delay(message.attempts)
        if hold_until is not None and message.queue != HIGH:
            retry_at = hold_until(retry_at)
        values = {
            "status": PENDING,
            "claimed_until": None,
            "next_attempt_at": retry_at,
            "last_error": str(error)[:500],
        }
        guard = and_(OutboxMessage.status == SENDING, OutboxMessage.attempts == message.attempts)
        outcome = PENDING
    with runtime.write_lock, runtime.sessions() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id, guard)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        log.info("outbox message %s was settled by another worker", message.id)
    if error is not None:
        # the error text stays in the row (staff see it); servers echo addresses in it, so not in the log
        kind = "permanent" if error.permanent else "temporary"
        log.warning("outbox message %s attempt %d: %s after a %s error", message.id, message.attempts, outcome, kind)
    return outcome


@dataclass
class OutboxWorker:
    """Drains the outbox one message at a time, always asking the high queue first."""

    runtime: ClinicRuntime
    transports: Mapping[str, Transport]
    queues: Sequence[str] = QUEUES
    backoff: Backoff = DEFAULT_BACKOFF
    max_attempts: int = MAX_ATTEMPTS
    lease: timedelta = DEFAULT_LEASE
    clock: Callable[[], datetime] = utcnow
    # quiet hours: the earliest instant a standard or billing message may go out at
    hold_until: Callable[[datetime], datetime] | None = None
    stop_event: Event = field(default_factory=Event)
    _turn: int = 0

    def claim(self) -> OutboxMessage | None:
        """The next message to send: high first, then standard and billing in turn."""
        now = self.clock()
        if HIGH in self.queues:
            message = claim_next(self.runtime, HIGH, now, self.lease)
            if message is not None:
                return message
        if self.hold_until is not None and self.hold_until(now) > now:
            # e.g. the workstation was off overnight and is switched on at 06:30: reminders wait
            return None
        others = [q for q in self.queues if q != HIGH]
        for i in range(len(others)):
            queue = others[(self._turn + i) % len(others)]
            message = claim_next(self.runtime, queue, now, self.lease)
            if message is not None:
                self._turn = (self._turn + i + 1) % len(others)
                return message
        return None

    def drain(self, max_messages: int | None = None) -> int:
        """Send until nothing is due (or stopped); the number of messages tried."""
        tried = 0
        while not self.stop_event.is_set() and (max_messages is None or tried < max_messages):
            message = self.claim()
            if message is None:
                break
            deliver(
                self.runtime,
                message,
                self.transports,
                now=self.clock(),
                backoff=self.backoff,
                max_attempts=self.max_attempts,
                hold_until=self.hold_until,
            )
            tried += 1
        return tried


# --- what staff see ----------------------------------------------------------------------


def _view(m: OutboxMessage, patient_name: str = "") -> MessageView:
    preview = " ".join(m.body.split())
    return MessageView(
        id=m.id,
        created_at=m.created_at,
        queue=m.queue,
        channel=m.channel,
        recipient=m.recipient,
        subject=m.subject,
        preview=preview if len(preview) <= 80 else preview[:79] + "…",
        status=m.status,
        attempts=m.attempts,
        sent_at=m.sent_at,
        next_attempt_at=m.next_attempt_at if m.status == PENDING else None,
        last_error=m.last_error,
        patient_id=m.patient_id,
        patient_name=patient_name,
    )


def messages_for_patient(ctx: Ctx, patient_id: str) -> list[MessageView]:
    """Every message queued for a patient, newest first, with its delivery status."""
    ctx.require(Scope.PATIENTS_READ)
    with ctx.uow() as uow:
        rows = uow.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.patient_id == patient_id)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        ).all()
        uow.audit(
            "patient.messages_viewed",
            entity_type="patient",
            entity_id=patient_id,
            patient_id=patient_id,
            details={"count": len(rows)},
        )
        uow.commit()
        return [_view(m) for m in rows]


def failed_messages(ctx: Ctx, limit: int = 500) -> list[MessageView]:
    """Messages that gave up (newest first), for the front desk to follow up by phone or retry."""
    ctx.require(Scope.PATIENTS_READ)
    with ctx.uow() as uow:
        rows = uow.session.execute(
            select(OutboxMessage, Patient.first_name, Patient.last_name)
            .outerjoin(Patient, Patient.id == OutboxMessage.patient_id)
            .where(OutboxMessage.status == FAILED)
            .order_by(OutboxMessage.created_at.desc())
            .limit(limit)
        ).all()
        uow.audit("messages.failed_viewed", details={"count": len(rows)})
        uow.commit()
        return [_view(m, f"{first} {last}" if first else "") for m, first, last in rows]


def retry_message(ctx: Ctx, message_id: str) -> None:
    """Put a failed message back in its queue with fresh attempts (after fixing an address, say)."""
    ctx.require(Scope.PATIENTS_WRITE)
    with ctx.uow() as uow:
        m = uow.session.get(OutboxMessage, message_id)
        if m is None or m.status != FAILED:
            raise MessageNotFound("That message is not in the failed list any more.")
        m.status, m.attempts, m.next_attempt_at, m.last_error = PENDING, 0, utcnow(), ""
        uow.audit(
            "patient.message_retried",
            entity_type="outbox_message",
            entity_id=m.id,
            patient_id=m.patient_id,
        )
        uow.commit()
