"""The recall list: which patients are due back for a hygiene visit or check-up, and who was called."""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Appointment, Patient, PatientRecall, RecallType
from app.db.types import utcnow
from app.domain.errors import UserError
from app.domain.patients import ContactChannel
from app.domain.permissions import Scope
from app.domain.scheduling import RecallRule, RecallState, recall_due, recall_state
from app.services import reminders
from app.services.context import Ctx

RECALL_STATES: tuple[RecallState, ...] = ("due", "overdue", "upcoming", "contacted")


class RecallNotFound(UserError):
    pass


class NoMessageConsent(UserError):
    """The patient has no channel they consented to be written to on: the desk phones them."""


class NoticeAlreadyQueued(UserError):
    pass


@dataclass(frozen=True)
class RecallRow:
    """One line of the front desk's recall list."""

    id: str
    version: int
    patient_id: str
    patient_name: str
    recall_type: str
    recall_code: str
    due_date: date
    state: RecallState
    last_completed: date | None
    contact_channel: str
    contact: str
    contacted_at: datetime | None
    # the visit that answers this recall: what "Book…" offers first
    appointment_type_id: str | None = None


def clinic_today(ctx: Ctx) -> date:
    """Today's date at the clinic (its time zone, not the workstation's)."""
    return utcnow().astimezone(ZoneInfo(ctx.runtime.info.time_zone)).date()


def _contact(p: Patient) -> tuple[str, str]:
    """How to reach the patient about a recall: their preferred channel when it is usable, else a phone."""
    phone = p.mobile_phone or p.home_phone or p.work_phone
    usable = {
        ContactChannel.SMS.value: p.mobile_phone if p.consent_sms else "",
        ContactChannel.EMAIL.value: p.email if p.consent_email else "",
        ContactChannel.PHONE.value: phone,
        ContactChannel.POST.value: ", ".join(x for x in (p.address_line1, p.city, p.postal_code) if x),
    }
    if usable.get(p.preferred_contact):
        return p.preferred_contact, usable[p.preferred_contact]
    if p.preferred_contact == ContactChannel.NONE.value:
        return ContactChannel.NONE.value, ""
    # the preferred way cannot be used (no consent or no number): a phone call still can
    return (ContactChannel.PHONE.value, phone) if phone else (ContactChannel.NONE.value, "")


def _row(r: PatientRecall, t: RecallType, p: Patient, today: date) -> RecallRow:
    assert r.due_date is not None
    channel, contact = _contact(p)
    return RecallRow(
        id=r.id,
        version=r.version,
        patient_id=p.id,
        patient_name=f"{p.last_name}, {p.preferred_name or p.first_name}",
        recall_type=t.name,
        recall_code=t.code,
        due_date=r.due_date,
        state=recall_state(r.due_date, today, r.contacted_at is not None),
        last_completed=r.last_completed,
        contact_channel=channel,
        contact=contact,
        contacted_at=r.contacted_at,
        appointment_type_id=t.appointment_type_id,
    )


def recall_list(ctx: Ctx, *, state: RecallState | None = None, today: date | None = None) -> list[RecallRow]:
    """Recalls of active patients with a due date, soonest due first, optionally of one state."""
    ctx.require(Scope.APPOINTMENTS_READ)
    if state is not None and state not in RECALL_STATES:
        raise UserError(f"Unknown recall state '{state}'; choose one of {', '.join(RECALL_STATES)}.")
    today = today or clinic_today(ctx)
    with ctx.uow() as uow:
        rows = uow.session.execute(
            select(PatientRecall, RecallType, Patient)
            .join(RecallType, RecallType.id == PatientRecall.recall_type_id)
            .join(Patient, Patient.id == PatientRecall.patient_id)
            .where(
                PatientRecall.deleted_at.is_(None),
                PatientRecall.due_date.is_not(None),
                RecallType.deleted_at.is_(None),
                Patient.deleted_at.is_(None),
                Patient.archived_at.is_(None),
            )
            .order_by(PatientRecall.due_date, Patient.last_name, Patient.first_name)
        )
        out = [_row(r, t, p, today) for r, t, p in rows]
        if state is not None:
            out = [row for row in out if row.state == state]
        # the list holds names and contact details of many patients: reading it is audited
        uow.audit("recall.list_viewed", details={"state": state, "today": today.isoformat(), "rows": len(out)})
        uow.commit()
    return out


def _due_recall(session: Session, recall_id: str) -> tuple[PatientRecall, date]:
    """The recall to contact the patient about and its due date, or a UserError saying why there is none."""
    r = session.get(PatientRecall, recall_id)
    if r is None or r.deleted_at is not None:
        raise RecallNotFound("That recall no longer exists.")
    if r.due_date is None:
        raise UserError("This recall has no due date yet, so there is nothing to contact the patient about.")
    return r, r.due_date


def mark_contacted(ctx: Ctx, recall_id: str, *, today: date | None = None) -> RecallRow:
    """Note that the patient was contacted about this recall, so nobody chases them twice."""
    ctx.require(Scope.APPOINTMENTS_WRITE)
    today = today or clinic_today(ctx)
    with ctx.uow() as uow:
        s = uow.session
        r, due = _due_recall(s, recall_id)
        r.contacted_at = utcnow()
        uow.audit(
            "recall.contacted",
            entity_type="patient_recall",
            entity_id=r.id,
            patient_id=r.patient_id,
            details={"due_date": due.isoformat()},
        )
        uow.commit()
        t = s.get(RecallType, r.recall_type_id)
        p = s.get(Patient, r.patient_id)
        assert t is not None and p is not None
        return _row(r, t, p, today)


def send_recall_notice(ctx: Ctx, recall_id: str, *, now: datetime | None = None) -> str:
    """Queue a recall notice now on the patient's consented channel, mark the recall contacted; the message id."""
    ctx.require(Scope.APPOINTMENTS_WRITE)
    now = now or utcnow()
    clinic = ctx.runtime.info
    with ctx.uow() as uow:
        s = uow.session
        r, due = _due_recall(s, recall_id)
        p = s.get(Patient, r.patient_id)
        if p is None or p.deleted_at is not None or p.archived_at is not None:
            raise UserError("This patient is archived: bring the record back before writing to them.")
        address = reminders.address_for(p)
        if address is None:
            raise NoMessageConsent("No consent to SMS or email: call the patient instead.")
        # the send day is part of the key: a second click today queues nothing, a send next week does
        send_day = now.astimezone(ZoneInfo(clinic.time_zone)).date()
        message_id = reminders.queue_recall_notice(
            s,
            r,
            p,
            address,
            template_key="recall_due",
            clinic=clinic,
            clinic_phone=reminders.default_phone(s),
            dedupe_key=reminders.recall_key(r, send_day),
            # sent by hand or not, a notice never wakes anyone in quiet hours
            not_before=reminders.DEFAULT_QUIET_HOURS.defer(now, clinic.time_zone),
        )
        if message_id is None:
            raise NoticeAlreadyQueued("A reminder about this recall was already queued today.")
        r.contacted_at = now
        uow.audit(
            "recall.notice_queued",
            entity_type="patient_recall",
            entity_id=r.id,
            patient_id=r.patient_id,
            details={"due_date": due.isoformat(), "channel": address[0], "message_id": message_id},
        )
        uow.commit()
    return message_id


def refresh_after_visit(session: Session, appointment: Appointment) -> list[PatientRecall]:
    """After a completed visit of a recall's appointment type: its last date and next due date.

    Runs in the caller's transaction; returns the recalls it changed (made if missing), so
    the caller can audit them.
    """
    if appointment.appointment_type_id is None:
        return []
    types = list(
        session.scalars(
            select(RecallType).where(
                RecallType.appointment_type_id == appointment.appointment_type_id, RecallType.deleted_at.is_(None)
            )
        )
    )
    if not types:
        return []
    tz = ZoneInfo(appointment.time_zone)
    today = utcnow().astimezone(tz).date()
    # a visit taken off the book has no time of its own: it happened today
    visit_day = appointment.starts_at.astimezone(tz).date() if appointment.starts_at else today
    changed: list[PatientRecall] = []
    for t in types:
        recall = session.scalar(
            select(PatientRecall).where(
                PatientRecall.patient_id == appointment.patient_id,
                PatientRecall.recall_type_id == t.id,
                PatientRecall.deleted_at.is_(None),
            )
        )
        if recall is None:
            recall = PatientRecall(patient_id=appointment.patient_id, recall_type_id=t.id)
            session.add(recall)
        # completing an older visit late must not pull the recall back before a newer one
        last = max(visit_day, recall.last_completed) if recall.last_completed else visit_day
        rule = RecallRule(t.code, t.name, t.interval_months)
        recall.last_completed = last
        # a visit dated ahead of this machine's clock still counts: measure from the visit
        recall.due_date = recall_due(last, rule, max(today, last))
        # a new round starts: the old contact mark must not hide the next due date
        recall.contacted_at = None
        changed.append(recall)
    session.flush()
    return changed
