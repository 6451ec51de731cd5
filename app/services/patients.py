"""Registering, editing, finding, opening and archiving patients."""

from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from app.db.models import MedicalAlert, Patient, PatientInsurance
from app.db.types import utcnow
from app.domain.errors import FieldError, UserError, ValidationError
from app.domain.patients import (
    AlertInput,
    CleanPatient,
    InsuranceInput,
    PatientInput,
    validate_patient,
)
from app.domain.permissions import Scope
from app.services import audit
from app.services.context import Ctx, PermissionDenied
from app.services.patient_search import PatientSearchCache

SCALAR_FIELDS = (
    "first_name",
    "last_name",
    "preferred_name",
    "middle_name",
    "date_of_birth",
    "sex",
    "gender_identity",
    "mobile_phone",
    "home_phone",
    "work_phone",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
    "preferred_contact",
    "consent_sms",
    "consent_email",
    "guarantor_id",
    "notes",
)


class PatientNotFound(UserError):
    pass


class StaleEdit(UserError):
    pass


@dataclass(frozen=True)
class PatientSummary:
    id: str
    chart_no: str
    first_name: str
    last_name: str
    preferred_name: str
    date_of_birth: date
    mobile_phone: str
    home_phone: str
    archived: bool
    has_alerts: bool

    @property
    def display_name(self) -> str:
        preferred = f" ({self.preferred_name})" if self.preferred_name else ""
        return f"{self.last_name}, {self.first_name}{preferred}"


@dataclass(frozen=True)
class FamilyMember:
    id: str
    name: str
    date_of_birth: date
    is_guarantor: bool


@dataclass(frozen=True)
class PatientRecord:
    id: str
    version: int
    chart_no: str
    data: CleanPatient
    archived_at: datetime | None
    guarantor_name: str
    family: tuple[FamilyMember, ...] = field(default=())

    @property
    def display_name(self) -> str:
        preferred = f" ({self.data.preferred_name})" if self.data.preferred_name else ""
        return f"{self.data.first_name}{preferred} {self.data.last_name}"


def _clean(ctx: Ctx, data: PatientInput) -> CleanPatient:
    info = ctx.runtime.info
    return validate_patient(data, today=date.today(), phone_region=info.phone_region, date_order=info.date_order)


def _search_cache(ctx: Ctx) -> PatientSearchCache:
    cache = ctx.runtime.cache("patient_search", PatientSearchCache)
    assert isinstance(cache, PatientSearchCache)
    return cache


def _load(session: Session, patient_id: str) -> Patient:
    p = session.scalar(
        select(Patient)
        .where(Patient.id == patient_id, Patient.deleted_at.is_(None))
        .options(selectinload(Patient.insurance), selectinload(Patient.alerts))
    )
    if p is None:
        raise PatientNotFound("That patient record does not exist.")
    return p


def _name(p: Patient) -> str:
    return f"{p.first_name} {p.last_name}"


def _record(session: Session, p: Patient) -> PatientRecord:
    insurance = tuple(
        InsuranceInput(i.carrier, i.member_id, i.plan_name, i.subscriber_name, i.relation, i.priority)
        for i in p.insurance
        if i.deleted_at is None
    )
    alerts = tuple(AlertInput(a.kind, a.description, a.severe) for a in p.alerts if a.deleted_at is None)
    values = {f: getattr(p, f) for f in SCALAR_FIELDS}
    data = CleanPatient(chart_no=p.chart_no, insurance=insurance, alerts=alerts, **values)
    guarantor = session.get(Patient, p.guarantor_id) if p.guarantor_id else None
    head_id = p.guarantor_id or p.id
    family_rows = session.scalars(
        select(Patient)
        .where(
            (Patient.guarantor_id == head_id) | (Patient.id == head_id),
            Patient.id != p.id,
            Patient.deleted_at.is_(None),
        )
        .order_by(Patient.date_of_birth)
    )
    family = tuple(FamilyMember(f.id, _name(f), f.date_of_birth, f.id == head_id) for f in family_rows)
    return PatientRecord(
        p.id, p.version, p.chart_no, data, p.archived_at, _name(guarantor) if guarantor else "", family
    )


def _check_guarantor(session: Session, patient_id: str | None, guarantor_id: str | None) -> None:
    if not guarantor_id:
        return
    if guarantor_id == patient_id:
        raise ValidationError([FieldError("guarantor_id", "A patient cannot be their own guarantor; leave it empty.")])
    g = session.get(Patient, guarantor_id)
    if g is None or g.deleted_at is not None:
        raise ValidationError([FieldError("guarantor_id", "The chosen guarantor no longer exists.")])


def _check_chart_no(session: Session, chart_no: str, patient_id: str | None) -> str:
    if not chart_no:
        # next number after the highest numeric chart number in use
        top = session.scalar(select(func.max(cast(Patient.chart_no, Integer))))
        return str(max(int(top or 0) + 1, 1001))
    clash = session.scalar(select(Patient.id).where(Patient.chart_no == chart_no))
    if clash and clash != patient_id:
        raise ValidationError([FieldError("chart_no", f"Chart number {chart_no} belongs to another patient.")])
    return chart_no


def _sync_children(session: Session, p: Patient, clean: CleanPatient) -> tuple[bool, bool]:
    """Tombstone removed plans/alerts and add new ones; returns (insurance changed, alerts changed)."""
    now = utcnow()

    def key_ins(i: InsuranceInput) -> tuple[object, ...]:
        return (i.carrier, i.member_id, i.plan_name, i.subscriber_name, str(i.relationship), i.priority)

    def key_alert(a: AlertInput) -> tuple[object, ...]:
        return (str(a.kind), a.description, a.severe)

    live_ins = {
        key_ins(InsuranceInput(i.carrier, i.member_id, i.plan_name, i.subscriber_name, i.relation, i.priority)): i
        for i in p.insurance
        if i.deleted_at is None
    }
    wanted_ins = {key_ins(i): i for i in clean.insurance}
    for k, plan in live_ins.items():
        if k not in wanted_ins:
            plan.deleted_at = now
    for k, i in wanted_ins.items():
        if k not in live_ins:
            session.add(
                PatientInsurance(
                    patient=p,
                    carrier=i.carrier,
                    member_id=i.member_id,
                    plan_name=i.plan_name,
                    subscriber_name=i.subscriber_name,
                    relation=str(i.relationship),
                    priority=i.priority,
                )
            )
    live_alerts = {key_alert(AlertInput(a.kind, a.description, a.severe)): a for a in p.alerts if a.deleted_at is None}
    wanted_alerts = {key_alert(a): a for a in clean.alerts}
    for k, alert in live_alerts.items():
        if k not in wanted_alerts:
            alert.deleted_at = now
    for k, a in wanted_alerts.items():
        if k not in live_alerts:
            session.add(MedicalAlert(patient=p, kind=str(a.kind), description=a.description, severe=a.severe))
    return set(live_ins) != set(wanted_ins), set(live_alerts) != set(wanted_alerts)


def _jsonable(v: object) -> object:
    return (
        v.isoformat()
        if isinstance(v, date)
        else (str(v) if v is not None and not isinstance(v, bool | int | str) else v)
    )


def register(ctx: Ctx, data: PatientInput) -> PatientRecord:
    """Add a new patient; refused with every fault listed if the form is not valid."""
    ctx.require(Scope.PATIENTS_WRITE)
    clean = _clean(ctx, data)
    if clean.alerts:
        ctx.require(Scope.MEDICAL_WRITE)
    with ctx.uow() as uow:
        s = uow.session
        _check_guarantor(s, None, clean.guarantor_id)
        chart_no = _check_chart_no(s, clean.chart_no, None)
        p = Patient(chart_no=chart_no, **{f: _db_value(getattr(clean, f)) for f in SCALAR_FIELDS})
        s.add(p)
        s.flush()
        _sync_children(s, p, clean)
        s.flush()
        after = {f: _jsonable(getattr(clean, f)) for f in SCALAR_FIELDS}
        after["insurance"] = [asdict(i) for i in clean.insurance]
        after["alerts"] = [asdict(a) for a in clean.alerts]
        uow.audit(
            "patient.registered",
            entity_type="patient",
            entity_id=p.id,
            patient_id=p.id,
            details={"after": after, "chart_no": chart_no},
        )
        uow.commit()
        return _record(s, _load(s, p.id))


def _db_value(v: object) -> object:
    return str(v) if hasattr(v, "value") else v


def update(ctx: Ctx, patient_id: str, expected_version: int, data: PatientInput) -> PatientRecord:
    """Save edits made to the version the user opened; a newer save by someone else wins."""
    ctx.require(Scope.PATIENTS_WRITE)
    clean = _clean(ctx, data)
    with ctx.uow() as uow:
        s = uow.session
        p = _load(s, patient_id)
        if p.version != expected_version:
            raise StaleEdit(audit.stale_message(s, patient_id, "patient"))
        _check_guarantor(s, patient_id, clean.guarantor_id)
        chart_no = _check_chart_no(s, clean.chart_no or p.chart_no, patient_id)
        before_alerts = [asdict(a) for a in _record(s, p).data.alerts]
        changes: dict[str, list[object]] = {}
        for f in SCALAR_FIELDS:
            new = _db_value(getattr(clean, f))
            if getattr(p, f) != new:
                changes[f] = [_jsonable(getattr(p, f)), _jsonable(new)]
                setattr(p, f, new)
        if chart_no != p.chart_no:
            changes["chart_no"] = [p.chart_no, chart_no]
            p.chart_no = chart_no
        ins_changed, alerts_changed = _sync_children(s, p, clean)
        if alerts_changed and not ctx.allowed(Scope.MEDICAL_WRITE):
            s.rollback()
            raise _medical_refusal(ctx)
        if ins_changed:
            changes["insurance"] = ["changed", [asdict(i) for i in clean.insurance]]
        if alerts_changed:
            changes["alerts"] = [before_alerts, [asdict(a) for a in clean.alerts]]
        if not changes:
            return _record(s, p)
        if ins_changed or alerts_changed:
            p.updated_at = utcnow()  # children changed: the patient's version moves too
        uow.audit(
            "patient.updated",
            entity_type="patient",
            entity_id=p.id,
            patient_id=p.id,
            details={"changes": changes},
        )
        try:
            uow.commit()
        except StaleDataError:
            raise StaleEdit(audit.stale_message(s, patient_id, "patient")) from None
        return _record(s, _load(s, patient_id))


def _medical_refusal(ctx: Ctx) -> PermissionDenied:
    try:
        ctx.require(Scope.MEDICAL_WRITE)
    except PermissionDenied as e:
        return PermissionDenied(f"{e} Medical alerts are recorded by a dentist or hygienist.")
    return PermissionDenied("Not allowed.")


def open_record(ctx: Ctx, patient_id: str) -> PatientRecord:
    """A patient's full record; each opening is audited."""
    ctx.require(Scope.PATIENTS_READ)
    with ctx.uow() as uow:
        record = _record(uow.session, _load(uow.session, patient_id))
        uow.audit("patient.opened", entity_type="patient", entity_id=patient_id, patient_id=patient_id)
        uow.commit()
        return record


def set_archived(ctx: Ctx, patient_id: str, archived: bool, reason: str = "") -> PatientRecord:
    """Archive (hide from daily lists, keep everything) or bring back a patient."""
    ctx.require(Scope.PATIENTS_ARCHIVE)
    with ctx.uow() as uow:
        p = _load(uow.session, patient_id)
        if (p.archived_at is not None) == archived:
            return _record(uow.session, p)
        p.archived_at = utcnow() if archived else None
        uow.audit(
            "patient.archived" if archived else "patient.unarchived",
            entity_type="patient",
            entity_id=p.id,
            patient_id=p.id,
            details={"reason": reason.strip()},
        )
        uow.commit()
        return _record(uow.session, _load(uow.session, patient_id))


def search(ctx: Ctx, text: str, *, include_archived: bool = False, limit: int = 50) -> list[PatientSummary]:
    """Patients matching a name (typos forgiven), date of birth, phone or chart number."""
    ctx.require(Scope.PATIENTS_READ)
    with ctx.uow(write=False) as uow:
        ids = _search_cache(ctx).search(uow.session, text, include_archived, limit)
        return summaries(uow.session, ids)


def summaries(session: Session, ids: list[str]) -> list[PatientSummary]:
    """Summaries in the order of `ids`."""
    if not ids:
        return []
    rows = session.execute(
        select(
            Patient.id,
            Patient.chart_no,
            Patient.first_name,
            Patient.last_name,
            Patient.preferred_name,
            Patient.date_of_birth,
            Patient.mobile_phone,
            Patient.home_phone,
            Patient.archived_at,
        ).where(Patient.id.in_(ids))
    ).all()
    alerted = set(
        session.scalars(
            select(MedicalAlert.patient_id).where(MedicalAlert.patient_id.in_(ids), MedicalAlert.deleted_at.is_(None))
        )
    )
    by_id = {
        r.id: PatientSummary(
            r.id,
            r.chart_no,
            r.first_name,
            r.last_name,
            r.preferred_name,
            r.date_of_birth,
            r.mobile_phone,
            r.home_phone,
            r.archived_at is not None,
            r.id in alerted,
        )
        for r in rows
    }
    return [by_id[i] for i in ids if i in by_id]


def warm_search(ctx: Ctx) -> int:
    """Build the search index ahead of the first keystroke; returns how many patients."""
    with ctx.uow(write=False) as uow:
        cache = _search_cache(ctx)
        cache.refresh(uow.session)
        return len(cache.index)
