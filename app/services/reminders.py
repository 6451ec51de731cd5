"""The reminder scan: appointment reminders and recall notices into the outbox, by clinic rules.

Runs in the background every few minutes; each run is idempotent (every message has a
dedupe key), so running it twice, or again after a crash, queues nothing twice. Patients
are written to only on the channel they chose and consented to, never in quiet hours.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.models import Appointment, Location, OutboxMessage, Patient, PatientRecall, ReminderRule
from app.db.types import utcnow
from app.services.context import UnitOfWork
from app.services.messaging import outbox
from app.services.messaging.templates import (
    TEMPLATES,
    Rendered,
    TemplateError,
    appointment_values,
    check_template,
    format_date,
    render,
)
from app.services.runtime import ClinicInfo, ClinicRuntime

log = logging.getLogger(__name__)

# only these visits still expect the patient; arrived/seated/completed ones need no reminder
REMINDABLE = ("scheduled", "confirmed")
# a cancellation deferred past quiet hours must still reach the patient this long before the visit
URGENT_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class QuietHours:
    """Clinic-local hours when no message goes out (default 20:00-08:00)."""

    start: time = time(20, 0)
    end: time = time(8, 0)

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start > self.end:  # spans midnight
            return local >= self.start or local < self.end
        return self.start <= local < self.end

    def defer(self, instant: datetime, time_zone: str) -> datetime:
        """`instant`, or the end of the quiet hours it falls in (as a UTC instant)."""
        tz = ZoneInfo(time_zone)
        local = instant.astimezone(tz)
        if not self.contains(local.time().replace(tzinfo=None)):
            return instant
        day = local.date()
        if self.start > self.end and local.time().replace(tzinfo=None) >= self.start:
            day += timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=tz).astimezone(UTC)


DEFAULT_QUIET_HOURS = QuietHours()


@dataclass(frozen=True)
class ScanResult:
    queued: int = 0
    already_queued: int = 0
    no_consent: int = 0
    too_late: int = 0
    withdrawn: int = 0


def address_for(patient: Patient) -> tuple[str, str] | None:
    """(channel, recipient) the patient chose and consented to; None for phone, post, none."""
    if patient.preferred_contact == "sms" and patient.consent_sms and patient.mobile_phone:
        return "sms", patient.mobile_phone
    if patient.preferred_contact == "email" and patient.consent_email and patient.email:
        return "email", patient.email
    return None


def _first_name(patient: Patient) -> str:
    return patient.preferred_name or patient.first_name


def _enqueue_to(
    session: Session,
    queue: str,
    dedupe_key: str,
    patient: Patient,
    address: tuple[str, str],
    message: Rendered,
    not_before: datetime,
) -> str | None:
    """Queue a rendered message to the patient's (channel, recipient); its id, or None if queued before."""
    channel, recipient = address
    return outbox.enqueue(
        session,
        queue=queue,
        dedupe_key=dedupe_key,
        patient_id=patient.id,
        channel=channel,
        recipient=recipient,
        subject=message.subject,
        body=message.body,
        not_before=not_before,
    )


def _reminder_key(appointment: Appointment, rule_id: str) -> str:
    assert appointment.starts_at is not None
    # the start time is part of the key: a moved appointment gets reminded again, for its new time
    return f"appt:{appointment.id}:{rule_id}:{appointment.starts_at.isoformat()}"


def _usable_rules(rules: Sequence[ReminderRule]) -> list[ReminderRule]:
    usable = []
    for rule in rules:
        template = TEMPLATES.get(rule.template_key)
        try:
            if template is None:
                raise TemplateError(f"no template {rule.template_key!r}")
            check_template(template)
        except TemplateError as e:
            log.warning("reminder rule %s skipped: %s", rule.id, e)
            continue
        usable.append(rule)
    return sorted(usable, key=lambda r: r.offset_minutes)


def default_phone(session: Session) -> str:
    """The clinic's phone number for messages: the first location's that has one."""
    phone = session.scalar(
        select(Location.phone)
        .where(Location.deleted_at.is_(None), Location.phone != "")
        .order_by(Location.created_at)
        .limit(1)
    )
    return phone or ""


def _scan_appointments(
    session: Session, rules: list[ReminderRule], clinic: ClinicInfo, now: datetime, quiet: QuietHours
) -> dict[str, int]:
    counts = {"queued": 0, "already_queued": 0, "no_consent": 0, "too_late": 0}
    if not rules:
        return counts
    horizon = now + timedelta(minutes=rules[-1].offset_minutes)
    rows = session.execute(
        select(Appointment, Patient, Location)
        .join(Patient, Patient.id == Appointment.patient_id)
        .join(Location, Location.id == Appointment.location_id)
        .where(
            Appointment.status.in_(REMINDABLE),
            Appointment.on_pinboard.is_(False),
            Appointment.deleted_at.is_(None),
            Appointment.starts_at > now,
            Appointment.starts_at <= horizon,
            Patient.deleted_at.is_(None),
            Patient.archived_at.is_(None),
        )
    ).all()
    for appointment, patient, location in rows:
        assert appointment.starts_at is not None
        lead = appointment.starts_at - now
        # the tightest rule whose window holds the visit: booked 1 h ahead, it gets the 2 h
        # reminder only, not the 48 h one as well
        rule = next(r for r in rules if timedelta(minutes=r.offset_minutes) >= lead)
        address = address_for(patient)
        if address is None:
            counts["no_consent"] += 1
            continue
        not_before = quiet.defer(now, appointment.time_zone)
        if not_before >= appointment.starts_at:
            # quiet hours last until the visit itself: a reminder then would only wake them
            counts["too_late"] += 1
            continue
        values = appointment_values(
            first_name=_first_name(patient),
            clinic_name=clinic.name,
            clinic_phone=location.phone,
            starts_at=appointment.starts_at,
            time_zone=appointment.time_zone,
            date_order=clinic.date_order,
        )
        message = render(rule.template_key, **values)
        new = _enqueue_to(
            session, outbox.STANDARD, _reminder_key(appointment, rule.id), patient, address, message, not_before
        )
        counts["queued" if new else "already_queued"] += 1
    return counts


def _withdraw_stale_reminders(session: Session, now: datetime) -> int:
    """Withdraw queued reminders whose visit was cancelled, deleted, pinboarded, moved or is over."""
    pending = session.execute(
        select(OutboxMessage.id, OutboxMessage.dedupe_key).where(
            OutboxMessage.status == outbox.PENDING, OutboxMessage.dedupe_key.startswith("appt:")
        )
    ).all()
    if not pending:
        return 0
    parsed = {mid: key.split(":", 3) for mid, key in pending}
    ids = {parts[1] for parts in parsed.values() if len(parts) == 4}
    appointments = {a.id: a for a in session.scalars(select(Appointment).where(Appointment.id.in_(ids)))}
    stale = []
    for mid, parts in parsed.items():
        appt = appointments.get(parts[1]) if len(parts) == 4 else None
        if (
            appt is None
            or appt.deleted_at is not None
            or appt.on_pinboard
            or appt.status not in REMINDABLE
            or appt.starts_at is None
            or appt.starts_at <= now
            or appt.starts_at.isoformat() != parts[3]
        ):
            stale.append(mid)
    if stale:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(stale), OutboxMessage.status == outbox.PENDING)
            .values(status=outbox.WITHDRAWN, last_error="withdrawn: the appointment changed")
            .execution_options(synchronize_session=False)
        )
    return len(stale)


def _scan_recalls(
    session: Session, rules: list[ReminderRule], clinic: ClinicInfo, now: datetime, quiet: QuietHours
) -> dict[str, int]:
    counts = {"queued": 0, "already_queued": 0, "no_consent": 0, "too_late": 0}
    if not rules:
        return counts
    today = now.astimezone(ZoneInfo(clinic.time_zone)).date()
    # recall offsets are kept in minutes like appointment ones; whole days are what count
    horizon = today + timedelta(days=rules[-1].offset_minutes // 1440)
    booked = (
        select(Appointment.id)
        .where(
            Appointment.patient_id == Patient.id,
            Appointment.status.in_(REMINDABLE),
            Appointment.deleted_at.is_(None),
            Appointment.starts_at > now,
        )
        .exists()
    )
    rows = session.execute(
        select(PatientRecall, Patient)
        .join(Patient, Patient.id == PatientRecall.patient_id)
        .where(
            PatientRecall.deleted_at.is_(None),
            PatientRecall.due_date >= today,
            PatientRecall.due_date <= horizon,
            # the desk already called or wrote (send_recall_notice): one chase per round is enough
            PatientRecall.contacted_at.is_(None),
            Patient.deleted_at.is_(None),
            Patient.archived_at.is_(None),
            ~booked,  # a patient who already booked their next visit needs no recall notice
        )
    ).all()
    phone = default_phone(session)
    for recall, patient in rows:
        due = recall.due_date
        assert due is not None  # the query asked for a due date in range
        rule = next(r for r in rules if today + timedelta(days=r.offset_minutes // 1440) >= due)
        address = address_for(patient)
        if address is None:
            counts["no_consent"] += 1
            continue
        new = queue_recall_notice(
            session,
            recall,
            patient,
            address,
            template_key=rule.template_key,
            clinic=clinic,
            clinic_phone=phone,
            dedupe_key=recall_key(recall),
            not_before=quiet.defer(now, clinic.time_zone),
        )
        counts["queued" if new else "already_queued"] += 1
    return counts


def recall_key(recall: PatientRecall, manual_day: date | None = None) -> str:
    """The dedupe key of a recall notice: one per due date, plus one per day the desk sends one by hand."""
    assert recall.due_date is not None
    key = f"recall:{recall.id}:{recall.due_date.isoformat()}"
    return f"{key}:manual:{manual_day.isoformat()}" if manual_day else key


def queue_recall_notice(
    session: Session,
    recall: PatientRecall,
    patient: Patient,
    address: tuple[str, str],
    *,
    template_key: str,
    clinic: ClinicInfo,
    clinic_phone: str,
    dedupe_key: str,
    not_before: datetime,
) -> str | None:
    """Render a recall notice and queue it in the caller's transaction; its id, or None if queued before."""
    due = recall.due_date
    assert due is not None
    message = render(
        template_key,
        first_name=_first_name(patient),
        clinic_name=clinic.name,
        clinic_phone=clinic_phone or "us",
        date=format_date(due, clinic.date_order),
    )
    return _enqueue_to(session, outbox.STANDARD, dedupe_key, patient, address, message, not_before)


def scan(runtime: ClinicRuntime, *, now: datetime | None = None, quiet: QuietHours = DEFAULT_QUIET_HOURS) -> ScanResult:
    """Queue every reminder and recall notice now due under the clinic's rules (idempotent)."""
    now = now or utcnow()
    with UnitOfWork(runtime, None, write=True) as uow:
        session = uow.session
        rules = session.scalars(
            select(ReminderRule).where(ReminderRule.active.is_(True), ReminderRule.deleted_at.is_(None))
        ).all()
        withdrawn = _withdraw_stale_reminders(session, now)
        appts = _scan_appointments(
            session, _usable_rules([r for r in rules if r.kind == "appointment"]), runtime.info, now, quiet
        )
        recalls = _scan_recalls(
            session, _usable_rules([r for r in rules if r.kind == "recall"]), runtime.info, now, quiet
        )
        result = ScanResult(
            queued=appts["queued"] + recalls["queued"],
            already_queued=appts["already_queued"] + recalls["already_queued"],
            no_consent=appts["no_consent"] + recalls["no_consent"],
            too_late=appts["too_late"] + recalls["too_late"],
            withdrawn=withdrawn,
        )
        if result.queued or result.withdrawn:
            # counts only: which patients were written to shows on each patient's messages
            uow.audit(
                "reminders.queued",
                username="background",
                details={"queued": result.queued, "withdrawn": result.withdrawn},
            )
        uow.commit()
    return result


def _notify_change(
    session: Session,
    appointment: Appointment,
    *,
    template_key: str,
    key_prefix: str,
    clinic: ClinicInfo,
    now: datetime | None,
    quiet: QuietHours,
) -> str | None:
    now = now or utcnow()
    # whatever reminder was still waiting for this visit is now wrong
    outbox.withdraw(session, f"appt:{appointment.id}:")
    if appointment.starts_at is None or appointment.starts_at <= now:
        return None
    patient = session.get(Patient, appointment.patient_id)
    if patient is None or patient.deleted_at is not None or patient.archived_at is not None:
        return None
    address = address_for(patient)
    if address is None:
        return None
    location = session.get(Location, appointment.location_id)
    not_before = quiet.defer(now, appointment.time_zone)
    if not_before > appointment.starts_at - URGENT_MARGIN:
        # waiting for morning would be too late to be of use: an urgent change goes now
        not_before = now
    values = appointment_values(
        first_name=_first_name(patient),
        clinic_name=clinic.name,
        clinic_phone=location.phone if location is not None else "",
        starts_at=appointment.starts_at,
        time_zone=appointment.time_zone,
        date_order=clinic.date_order,
    )
    message = render(template_key, **values)
    key = f"{key_prefix}:{appointment.id}:{appointment.starts_at.isoformat()}"
    return _enqueue_to(session, outbox.HIGH, key, patient, address, message, not_before)


def notify_cancellation(
    session: Session,
    appointment: Appointment,
    *,
    clinic: ClinicInfo,
    now: datetime | None = None,
    quiet: QuietHours = DEFAULT_QUIET_HOURS,
) -> str | None:
    """Queue (high priority) a cancellation notice in the caller's transaction; its id, or None."""
    return _notify_change(
        session,
        appointment,
        template_key="appointment_cancelled",
        key_prefix="cancel",
        clinic=clinic,
        now=now,
        quiet=quiet,
    )


def notify_moved(
    session: Session,
    appointment: Appointment,
    *,
    clinic: ClinicInfo,
    now: datetime | None = None,
    quiet: QuietHours = DEFAULT_QUIET_HOURS,
) -> str | None:
    """Queue (high priority) a notice of the appointment's new time; the scan re-queues its reminders."""
    return _notify_change(
        session,
        appointment,
        template_key="appointment_moved",
        key_prefix="moved",
        clinic=clinic,
        now=now,
        quiet=quiet,
    )
