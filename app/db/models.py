"""SQLAlchemy 2.0 typed models of the clinic database."""

from datetime import date, datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from app.db.types import IsoDate, UtcDateTime, utcnow
from app.domain.ids import new_id


class Base(DeclarativeBase):
    pass


class Synced:
    """Columns every synced row carries (DESIGN.md, Local data)."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, object]:
        # optimistic lock: an UPDATE matching no row at the expected version is refused
        return {"version_id_col": cls.version}  # type: ignore[attr-defined]


class Clinic(Synced, Base):
    __tablename__ = "clinic"
    name: Mapped[str] = mapped_column(String(200))
    phone_region: Mapped[str] = mapped_column(String(2), default="US")
    date_order: Mapped[str] = mapped_column(String(3), default="MDY")
    time_zone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    idle_lock_minutes: Mapped[int] = mapped_column(Integer, default=15, server_default="15")
    max_failed_logins: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    lockout_minutes: Mapped[int] = mapped_column(Integer, default=15, server_default="15")
    # clinical preferences: how teeth are named everywhere, and the perio probing order
    tooth_numbering: Mapped[str] = mapped_column(String(16), default="universal", server_default="universal")
    probing_path: Mapped[str] = mapped_column(String(32), default="s-curve", server_default="s-curve")
    # the workstation taking the nightly backup; '' none, NULL never chosen (backup_schedule)
    nightly_backup_by: Mapped[str | None] = mapped_column(String(36))


class StaffUser(Synced, Base):
    __tablename__ = "staff_user"
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    licence_no: Mapped[str] = mapped_column(String(64), default="")
    provider_colour: Mapped[str] = mapped_column(String(9), default="")
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Patient(Synced, Base):
    __tablename__ = "patient"
    chart_no: Mapped[str] = mapped_column(String(32), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100), index=True)
    preferred_name: Mapped[str] = mapped_column(String(100), default="")
    middle_name: Mapped[str] = mapped_column(String(100), default="")
    date_of_birth: Mapped[date] = mapped_column(IsoDate, index=True)
    sex: Mapped[str] = mapped_column(String(16), default="unknown")
    gender_identity: Mapped[str] = mapped_column(String(64), default="")
    mobile_phone: Mapped[str] = mapped_column(String(20), default="")
    home_phone: Mapped[str] = mapped_column(String(20), default="")
    work_phone: Mapped[str] = mapped_column(String(20), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    address_line1: Mapped[str] = mapped_column(String(200), default="")
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(100), default="")
    preferred_contact: Mapped[str] = mapped_column(String(16), default="phone")
    consent_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_email: Mapped[bool] = mapped_column(Boolean, default=False)
    guarantor_id: Mapped[str | None] = mapped_column(ForeignKey("patient.id"), index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    archived_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    insurance: Mapped[list["PatientInsurance"]] = relationship(
        back_populates="patient", order_by="PatientInsurance.priority"
    )
    alerts: Mapped[list["MedicalAlert"]] = relationship(back_populates="patient", order_by="MedicalAlert.created_at")


class PatientInsurance(Synced, Base):
    __tablename__ = "patient_insurance"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=1)
    carrier: Mapped[str] = mapped_column(String(200))
    plan_name: Mapped[str] = mapped_column(String(200), default="")
    member_id: Mapped[str] = mapped_column(String(64))
    subscriber_name: Mapped[str] = mapped_column(String(200), default="")
    relation: Mapped[str] = mapped_column(String(16), default="self")
    patient: Mapped[Patient] = relationship(back_populates="insurance")


class MedicalAlert(Synced, Base):
    __tablename__ = "medical_alert"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(500))
    severe: Mapped[bool] = mapped_column(Boolean, default=False)
    patient: Mapped[Patient] = relationship(back_populates="alerts")


class AuditEvent(Base):
    """Append-only and hash-chained; `seq` orders the chain, `id` names it across machines."""

    __tablename__ = "audit_event"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    workstation_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[str | None] = mapped_column(String(36), index=True)
    username: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(64), default="")
    entity_id: Mapped[str] = mapped_column(String(36), default="")
    patient_id: Mapped[str | None] = mapped_column(String(36), index=True)
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_event_occurred_at", "occurred_at"),)


class AuditHead(Base):
    """The last link of the audit chain, so removing the newest events is noticed too."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class ChangeLog(Base):
    """Each change to a synced row, written in the same transaction, for the sync to push."""

    __tablename__ = "change_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[str] = mapped_column(String(36))
    operation: Mapped[str] = mapped_column(String(8))
    row_version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    pushed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    # the columns an update wrote, as a JSON list (NULL: an insert, every column)
    changed_fields: Mapped[str | None] = mapped_column(Text)


class SyncConflict(Base):
    """A row the cloud and this workstation disagree on, kept until a person resolves it."""

    __tablename__ = "sync_conflict"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    table_name: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(500))
    local_row: Mapped[str | None] = mapped_column(Text)  # JSON, as this workstation had it
    server_row: Mapped[str | None] = mapped_column(Text)  # JSON, as the cloud has it
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolution: Mapped[str] = mapped_column(String(32), default="", server_default="")
    resolved_by: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (Index("ix_sync_conflict_open", "resolved_at", "detected_at"),)


class SyncApplying(Base):
    """Holds a row only inside the transaction applying pulled rows (see migration 0006)."""

    __tablename__ = "sync_applying"
    active: Mapped[int] = mapped_column(Integer, primary_key=True)


class LocalSetting(Base):
    """Settings of this workstation's copy (never synced): workstation id and such."""

    __tablename__ = "local_setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# --- scheduling ------------------------------------------------------------------------------


class Location(Synced, Base):
    __tablename__ = "location"
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    # the book's visible day and its grid; providers' hours sit inside the opening hours
    grid_minutes: Mapped[int] = mapped_column(Integer, default=10)


class Operatory(Synced, Base):
    __tablename__ = "operatory"
    location_id: Mapped[str] = mapped_column(ForeignKey("location.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WeeklyHoursRow(Synced, Base):
    """Opening hours of a location (provider_id empty) or a provider's working hours there."""

    __tablename__ = "weekly_hours"
    location_id: Mapped[str] = mapped_column(ForeignKey("location.id"), index=True)
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    start_local: Mapped[str] = mapped_column(String(5))  # 'HH:MM' wall-clock at the location
    end_local: Mapped[str] = mapped_column(String(5))


class HoursException(Synced, Base):
    """A date when a provider (or the location) works other hours, or not at all (no times)."""

    __tablename__ = "hours_exception"
    location_id: Mapped[str] = mapped_column(ForeignKey("location.id"), index=True)
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    day: Mapped[date] = mapped_column(IsoDate)
    start_local: Mapped[str | None] = mapped_column(String(5))
    end_local: Mapped[str | None] = mapped_column(String(5))
    note: Mapped[str] = mapped_column(String(200), default="")


class ScheduleBlock(Synced, Base):
    """Time a provider or operatory is not bookable: one-off (instants) or weekly (local times)."""

    __tablename__ = "schedule_block"
    location_id: Mapped[str] = mapped_column(ForeignKey("location.id"), index=True)
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    operatory_id: Mapped[str | None] = mapped_column(ForeignKey("operatory.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # vacation, lunch, meeting, emergencies_only
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    weekday: Mapped[int | None] = mapped_column(Integer)
    start_local: Mapped[str | None] = mapped_column(String(5))
    end_local: Mapped[str | None] = mapped_column(String(5))
    note: Mapped[str] = mapped_column(String(200), default="")


class AppointmentType(Synced, Base):
    __tablename__ = "appointment_type"
    name: Mapped[str] = mapped_column(String(100))
    default_minutes: Mapped[int] = mapped_column(Integer)
    colour: Mapped[str] = mapped_column(String(9))
    default_procedures: Mapped[str] = mapped_column(String(200), default="")  # procedure codes, comma separated
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Appointment(Synced, Base):
    """A booked visit; on the pinboard (unscheduled) it keeps no time and blocks nothing."""

    __tablename__ = "appointment"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"))
    provider_id: Mapped[str] = mapped_column(ForeignKey("staff_user.id"))
    operatory_id: Mapped[str | None] = mapped_column(ForeignKey("operatory.id"))
    location_id: Mapped[str] = mapped_column(ForeignKey("location.id"))
    appointment_type_id: Mapped[str | None] = mapped_column(ForeignKey("appointment_type.id"))
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    time_zone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    note: Mapped[str] = mapped_column(String(500), default="")
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    outside_hours_reason: Mapped[str] = mapped_column(String(200), default="")
    on_pinboard: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_appointment_provider_start", "provider_id", "starts_at"),
        Index("ix_appointment_operatory_start", "operatory_id", "starts_at"),
        Index("ix_appointment_patient_start", "patient_id", "starts_at"),
        Index("ix_appointment_starts_at", "starts_at"),
    )


class AppointmentStatusChange(Synced, Base):
    """Each step of the visit workflow: when, by whom, from which state."""

    __tablename__ = "appointment_status_change"
    appointment_id: Mapped[str] = mapped_column(ForeignKey("appointment.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    changed_by: Mapped[str | None] = mapped_column(ForeignKey("staff_user.id"))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(String(200), default="")


class RecallType(Synced, Base):
    __tablename__ = "recall_type"
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    interval_months: Mapped[int] = mapped_column(Integer)
    appointment_type_id: Mapped[str | None] = mapped_column(ForeignKey("appointment_type.id"))


class PatientRecall(Synced, Base):
    __tablename__ = "patient_recall"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    recall_type_id: Mapped[str] = mapped_column(ForeignKey("recall_type.id"))
    last_completed: Mapped[date | None] = mapped_column(IsoDate)
    due_date: Mapped[date | None] = mapped_column(IsoDate, index=True)
    contacted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReminderRule(Synced, Base):
    """When reminders go out: hours before an appointment, or days before a recall is due."""

    __tablename__ = "reminder_rule"
    kind: Mapped[str] = mapped_column(String(16))  # appointment, recall
    offset_minutes: Mapped[int] = mapped_column(Integer)
    template_key: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class OutboxMessage(Base):
    """A message to a patient, queued durably; `dedupe_key` makes each one exist only once.

    Local to the sending workstation (not synced): it holds contact details and delivery state.
    """

    __tablename__ = "outbox_message"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    queue: Mapped[str] = mapped_column(String(16), index=True)  # high, standard, billing
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    patient_id: Mapped[str | None] = mapped_column(String(36), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # email, sms
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# --- clinical chart ----------------------------------------------------------------------------


class ProcedureCode(Synced, Base):
    """The clinic's procedure catalogue: shipped codes plus any licensed list it imports."""

    __tablename__ = "procedure_code"
    code: Mapped[str] = mapped_column(String(16), unique=True)
    description: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(24))
    fee_cents: Mapped[int] = mapped_column(Integer)
    area: Mapped[str] = mapped_column(String(16))  # mouth, arch, quadrant, tooth, surface
    surfaces_required: Mapped[int] = mapped_column(Integer, default=0)
    draw: Mapped[str] = mapped_column(String(24), default="")  # how the odontogram shows it
    source: Mapped[str] = mapped_column(String(16), default="shipped")  # shipped, imported
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ChartEntry(Synced, Base):
    """One line of a patient's chart: a condition found, or a procedure existing, planned,
    completed or referred, on a tooth (and surfaces), a quadrant/arch, or the whole mouth."""

    __tablename__ = "chart_entry"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # condition, procedure
    code: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(24), default="")
    draw: Mapped[str] = mapped_column(String(24), default="")
    tooth: Mapped[str | None] = mapped_column(String(2))  # FDI id; numbering is a display choice
    surfaces: Mapped[str] = mapped_column(String(5), default="")
    region: Mapped[str] = mapped_column(String(8), default="")  # quadrant UR/UL/LL/LR or arch U/L
    status: Mapped[str] = mapped_column(String(16))  # existing, planned, completed, referred
    fee_cents: Mapped[int] = mapped_column(Integer, default=0)
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("staff_user.id"))
    entry_date: Mapped[date] = mapped_column(IsoDate)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    appointment_id: Mapped[str | None] = mapped_column(ForeignKey("appointment.id"))
    note: Mapped[str] = mapped_column(String(500), default="")
    removed_reason: Mapped[str] = mapped_column(String(200), default="")


class TreatmentPlan(Synced, Base):
    """A proposed course of treatment; plans sharing `option_group` are alternatives."""

    __tablename__ = "treatment_plan"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    option_group: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    proposed_on: Mapped[date] = mapped_column(IsoDate)
    accepted_on: Mapped[date | None] = mapped_column(IsoDate)
    declined_on: Mapped[date | None] = mapped_column(IsoDate)
    completed_on: Mapped[date | None] = mapped_column(IsoDate)
    status_reason: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str | None] = mapped_column(ForeignKey("staff_user.id"))
    note: Mapped[str] = mapped_column(String(500), default="")


class TreatmentPlanItem(Synced, Base):
    """A planned procedure's place in a plan: its phase, priority and quoted fee."""

    __tablename__ = "treatment_plan_item"
    plan_id: Mapped[str] = mapped_column(ForeignKey("treatment_plan.id"), index=True)
    chart_entry_id: Mapped[str] = mapped_column(ForeignKey("chart_entry.id"), index=True)
    phase: Mapped[int] = mapped_column(Integer, default=1)
    priority: Mapped[int] = mapped_column(Integer, default=1)


class InsuranceBenefits(Synced, Base):
    """What the patient's primary insurance pays this benefit year, for estimates."""

    __tablename__ = "insurance_benefits"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    coverage: Mapped[str] = mapped_column(Text, default="{}")  # JSON: category -> percent
    deductible_cents: Mapped[int] = mapped_column(Integer, default=0)
    deductible_met_cents: Mapped[int] = mapped_column(Integer, default=0)
    annual_max_cents: Mapped[int] = mapped_column(Integer, default=0)
    max_used_cents: Mapped[int] = mapped_column(Integer, default=0)
    year_start: Mapped[date | None] = mapped_column(IsoDate)


class PerioExam(Synced, Base):
    """A full-mouth periodontal exam; the readings travel as one JSON document."""

    __tablename__ = "perio_exam"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    exam_date: Mapped[date] = mapped_column(IsoDate)
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("staff_user.id"))
    status: Mapped[str] = mapped_column(String(16), default="in_progress")  # in_progress, completed
    readings: Mapped[str] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    completed_by: Mapped[str | None] = mapped_column(ForeignKey("staff_user.id"))


class NoteTemplate(Synced, Base):
    __tablename__ = "note_template"
    name: Mapped[str] = mapped_column(String(100))
    appointment_type_id: Mapped[str | None] = mapped_column(ForeignKey("appointment_type.id"))
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ClinicalNote(Synced, Base):
    """A visit's note; once signed it never changes (the service and a trigger refuse)."""

    __tablename__ = "clinical_note"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    appointment_id: Mapped[str | None] = mapped_column(ForeignKey("appointment.id"))
    visit_date: Mapped[date] = mapped_column(IsoDate)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[str] = mapped_column(ForeignKey("staff_user.id"))
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class NoteProcedure(Synced, Base):
    """Links a note to the chart entries (procedures) done at that visit."""

    __tablename__ = "note_procedure"
    note_id: Mapped[str] = mapped_column(ForeignKey("clinical_note.id"), index=True)
    chart_entry_id: Mapped[str] = mapped_column(ForeignKey("chart_entry.id"))


class NoteAddendum(Synced, Base):
    """A dated, signed extension of a signed note; immutable like the note."""

    __tablename__ = "note_addendum"
    note_id: Mapped[str] = mapped_column(ForeignKey("clinical_note.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(ForeignKey("staff_user.id"))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
