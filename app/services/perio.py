"""Periodontal exams: start one from the chart, save readings as they are probed, complete,
compare with an earlier exam, and suggest a stage and grade.

An exam is one row whose readings travel as one JSON document (app.domain.perio), so saving
is a single UPDATE. A completed exam is locked: this service refuses every change, and a
database trigger refuses any UPDATE or DELETE as a backstop.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.db.models import AuditEvent, ChartEntry, Patient, StaffUser
from app.db.models import PerioExam as PerioExamRow
from app.db.types import utcnow
from app.domain import teeth
from app.domain.dates import age_on, format_date
from app.domain.errors import FieldError, UserError, ValidationError
from app.domain.perio import (
    FLAGS,
    PerioExam,
    PerioSummary,
    SiteChange,
    StagingSuggestion,
    compare,
    suggest_stage_grade,
    summarize,
    worse_sites,
)
from app.domain.permissions import Role, Scope
from app.services.context import Ctx, UnitOfWork
from app.services.patients import PatientNotFound

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
_CLINICIANS = frozenset({Role.DENTIST.value, Role.HYGIENIST.value})
# what moves an exam on: the stale-save message names whoever did the latest of these
_CHANGES = ("perio.started", "perio.saved", "perio.completed", "perio.discarded")
_SITE_FIELDS = ("depth", "margin", *FLAGS)
_TOOTH_FIELDS = ("missing", "implant", "mobility", "furcation")
_NO_NUMBERS: list[int | None] = [None] * 6
_BLANK: dict[str, list[int | None]] = {"depth": _NO_NUMBERS, "margin": _NO_NUMBERS} | {f: [0] * 6 for f in FLAGS}
_PERMANENT = frozenset(teeth.PERMANENT)


class ExamNotFound(UserError):
    pass


class ExamInProgress(UserError):
    """The patient already has an exam being charted."""


class ExamLocked(UserError):
    """The exam is completed: it can no longer change."""


class StaleExam(UserError):
    pass


class NothingRecorded(UserError):
    pass


class NotAClinician(UserError):
    """The provider chosen for an exam is not a dentist or hygienist."""


@dataclass(frozen=True)
class ExamSummaryRow:
    id: str
    exam_date: date
    provider_name: str
    status: str  # "in_progress", "completed"
    completed_at: datetime | None
    version: int
    summary: PerioSummary


@dataclass(frozen=True)
class ExamRecord:
    id: str
    patient_id: str
    version: int
    exam_date: date
    provider_id: str | None
    provider_name: str
    status: str
    completed_at: datetime | None
    completed_by_name: str
    exam: PerioExam

    @property
    def completed(self) -> bool:
        return self.status == COMPLETED


@dataclass(frozen=True)
class ComparedExam:
    id: str
    exam_date: date
    provider_name: str
    status: str
    exam: PerioExam


@dataclass(frozen=True)
class Comparison:
    """An exam beside an earlier one: `before` is always the earlier by date."""

    before: ComparedExam
    after: ComparedExam
    changes: tuple[SiteChange, ...]
    worse: frozenset[tuple[str, str]]  # (tooth, site) 2 mm or more worse in PD or CAL
    before_summary: PerioSummary
    after_summary: PerioSummary


# --- helpers ---------------------------------------------------------------------------------


def _tz(ctx: Ctx) -> ZoneInfo:
    return ZoneInfo(ctx.runtime.info.time_zone)


def _day(ctx: Ctx, d: date) -> str:
    return format_date(d, ctx.runtime.info.date_order)


def _patient(s: Session, patient_id: str) -> Patient:
    p = s.get(Patient, patient_id)
    if p is None or p.deleted_at is not None:
        raise PatientNotFound("That patient record does not exist.")
    return p


def _load(s: Session, exam_id: str) -> PerioExamRow:
    row = s.get(PerioExamRow, exam_id)
    if row is None or row.deleted_at is not None:
        raise ExamNotFound("That perio exam no longer exists (it may have been discarded).")
    return row


def _names(s: Session, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = s.execute(select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(wanted)))
    return dict(rows.all())


def _record(s: Session, row: PerioExamRow, exam: PerioExam | None = None) -> ExamRecord:
    names = _names(s, (row.provider_id, row.completed_by))
    return ExamRecord(
        id=row.id,
        patient_id=row.patient_id,
        version=row.version,
        exam_date=row.exam_date,
        provider_id=row.provider_id,
        provider_name=names.get(row.provider_id or "", ""),
        status=row.status,
        completed_at=row.completed_at,
        completed_by_name=names.get(row.completed_by or "", ""),
        exam=exam if exam is not None else PerioExam.from_json(row.readings),
    )


def _locked(ctx: Ctx, s: Session, row: PerioExamRow) -> ExamLocked:
    when = row.completed_at.astimezone(_tz(ctx)).date() if row.completed_at else row.exam_date
    who = _names(s, (row.completed_by,)).get(row.completed_by or "", "a former member of staff")
    return ExamLocked(f"This exam was completed on {_day(ctx, when)} by {who} and can no longer be changed.")


def _stale(ctx: Ctx, s: Session, exam_id: str) -> StaleExam:
    last = s.scalar(
        select(AuditEvent)
        .where(AuditEvent.entity_id == exam_id, AuditEvent.action.in_(_CHANGES))
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
    if last is not None:
        at = last.occurred_at.astimezone(_tz(ctx))
        who = f"{last.username} at {at:%H:%M} on {_day(ctx, at.date())}"
    else:
        who = "someone else"
    return StaleExam(
        f"This exam was saved by {who} while you were charting, so your latest changes were not saved. "
        "Reload it to see theirs, then enter yours again."
    )


def _editable(ctx: Ctx, s: Session, exam_id: str, expected_version: int) -> PerioExamRow:
    """The in-progress exam at the version the user opened; every refusal named."""
    row = _load(s, exam_id)
    if row.status == COMPLETED:
        raise _locked(ctx, s, row)
    if row.version != expected_version:
        raise _stale(ctx, s, exam_id)
    return row


def _commit(ctx: Ctx, uow: UnitOfWork, exam_id: str) -> None:
    """Commit, turning the database's own refusals into the same messages as ours."""
    s = uow.session
    try:
        uow.commit()
    except StaleDataError:
        s.rollback()
        raise _stale(ctx, s, exam_id) from None
    except DBAPIError as e:
        s.rollback()
        if "locked" in str(e.orig):
            raise _locked(ctx, s, _load(s, exam_id)) from None
        raise


def _chart_marks(s: Session, patient_id: str) -> tuple[set[str], set[str]]:
    """(missing, implants) among the permanent teeth, as the patient's chart records them."""
    missing: set[str] = set()
    implants: set[str] = set()
    rows = s.execute(
        select(ChartEntry.tooth, ChartEntry.kind, ChartEntry.code, ChartEntry.draw, ChartEntry.status).where(
            ChartEntry.patient_id == patient_id, ChartEntry.deleted_at.is_(None), ChartEntry.tooth.is_not(None)
        )
    )
    for tooth, kind, code, draw, status in rows:
        if tooth not in _PERMANENT:
            continue
        finding = kind == "condition"
        # work done here, or done elsewhere and recorded as existing, changes what is in the mouth
        done = kind == "procedure" and status in ("completed", "existing")
        if draw == "implant" and (finding or done):
            implants.add(tooth)
        elif (finding and (draw == "missing" or code == "missing")) or (done and draw == "extraction"):
            missing.add(tooth)
    # an implant stands where a tooth was lost: the implant is what gets probed
    return missing - implants, implants


def _changed(old_text: str, new_text: str) -> tuple[int, list[str]]:
    """(sites whose readings changed, teeth whose missing/implant/mobility/furcation changed)."""
    old: dict[str, dict[str, Any]] = json.loads(old_text).get("teeth", {})
    new: dict[str, dict[str, Any]] = json.loads(new_text).get("teeth", {})
    sites = 0
    whole: list[str] = []
    for t in teeth.PERMANENT:
        o, n = old.get(t), new.get(t)
        if o == n:
            continue
        o, n = o or {}, n or {}
        # a field left out is blank: no numbers (None), no marks (0)
        pairs = [(o.get(f) or _BLANK[f], n.get(f) or _BLANK[f]) for f in _SITE_FIELDS]
        sites += sum(any(a[i] != b[i] for a, b in pairs) for i in range(6))
        if any(o.get(f) != n.get(f) for f in _TOOTH_FIELDS):
            whole.append(t)
    return sites, whole


# --- reading ---------------------------------------------------------------------------------


def list_exams(ctx: Ctx, patient_id: str) -> list[ExamSummaryRow]:
    """A patient's perio exams with their figures, newest first."""
    ctx.require(Scope.CHART_READ)
    with ctx.uow(write=False) as uow:
        s = uow.session
        _patient(s, patient_id)
        rows = s.scalars(
            select(PerioExamRow)
            .where(PerioExamRow.patient_id == patient_id, PerioExamRow.deleted_at.is_(None))
            .order_by(PerioExamRow.exam_date.desc(), PerioExamRow.created_at.desc())
        ).all()
        names = _names(s, (r.provider_id for r in rows))
        return [
            ExamSummaryRow(
                r.id,
                r.exam_date,
                names.get(r.provider_id or "", ""),
                r.status,
                r.completed_at,
                r.version,
                summarize(PerioExam.from_json(r.readings)),
            )
            for r in rows
        ]


def get_exam(ctx: Ctx, exam_id: str) -> ExamRecord:
    """One exam with all its readings; each opening is audited."""
    ctx.require(Scope.CHART_READ)
    with ctx.uow() as uow:
        s = uow.session
        row = _load(s, exam_id)
        record = _record(s, row)
        uow.audit("perio.opened", entity_type="perio_exam", entity_id=row.id, patient_id=row.patient_id)
        uow.commit()
    return record


def _compared(row: PerioExamRow, names: dict[str, str]) -> ComparedExam:
    return ComparedExam(
        row.id, row.exam_date, names.get(row.provider_id or "", ""), row.status, PerioExam.from_json(row.readings)
    )


def comparison(ctx: Ctx, exam_id: str, earlier_exam_id: str) -> Comparison:
    """Two exams of one patient side by side: what changed, and where it got worse."""
    ctx.require(Scope.CHART_READ)
    if exam_id == earlier_exam_id:
        raise UserError("Choose a different exam to compare with.")
    with ctx.uow() as uow:
        s = uow.session
        after_row, before_row = _load(s, exam_id), _load(s, earlier_exam_id)
        if after_row.patient_id != before_row.patient_id:
            raise UserError("Those exams belong to different patients; compare exams of the same patient.")
        if (before_row.exam_date, before_row.created_at) > (after_row.exam_date, after_row.created_at):
            before_row, after_row = after_row, before_row
        names = _names(s, (before_row.provider_id, after_row.provider_id))
        before, after = _compared(before_row, names), _compared(after_row, names)
        result = Comparison(
            before=before,
            after=after,
            changes=tuple(compare(before.exam, after.exam)),
            worse=frozenset(worse_sites(before.exam, after.exam)),
            before_summary=summarize(before.exam),
            after_summary=summarize(after.exam),
        )
        uow.audit(
            "perio.compared",
            entity_type="perio_exam",
            entity_id=exam_id,
            patient_id=after_row.patient_id,
            details={"exam_id": after.id, "earlier_exam_id": before.id, "worse_sites": len(result.worse)},
        )
        uow.commit()
    return result


def staging(ctx: Ctx, exam_id: str) -> StagingSuggestion:
    """A suggested stage, extent and grade for an exam, using the patient's age at the exam
    and their earlier completed exams; a suggestion for the clinician, not a diagnosis."""
    ctx.require(Scope.CHART_READ)
    with ctx.uow() as uow:
        s = uow.session
        row = _load(s, exam_id)
        patient = _patient(s, row.patient_id)
        earlier_rows = s.scalars(
            select(PerioExamRow).where(
                PerioExamRow.patient_id == row.patient_id,
                PerioExamRow.deleted_at.is_(None),
                PerioExamRow.status == COMPLETED,
                PerioExamRow.exam_date < row.exam_date,
                PerioExamRow.id != row.id,
            )
        ).all()
        earlier = [(e.exam_date, PerioExam.from_json(e.readings)) for e in earlier_rows]
        suggestion = suggest_stage_grade(
            PerioExam.from_json(row.readings),
            age=age_on(patient.date_of_birth, row.exam_date),
            earlier=earlier,
            exam_date=row.exam_date,
            numbering=teeth.Numbering(ctx.runtime.info.tooth_numbering),
        )
        uow.audit(
            "perio.staging_viewed",
            entity_type="perio_exam",
            entity_id=row.id,
            patient_id=row.patient_id,
            details={"stage": suggestion.stage, "extent": suggestion.extent, "grade": suggestion.grade},
        )
        uow.commit()
    return suggestion


# --- writing ---------------------------------------------------------------------------------


def start_exam(
    ctx: Ctx, patient_id: str, *, exam_date: date | None = None, provider_id: str | None = None
) -> ExamRecord:
    """A new in-progress exam with missing teeth and implants taken from the patient's chart."""
    actor = ctx.require(Scope.CHART_WRITE)
    day = exam_date or ctx.today()
    if day > ctx.today():
        raise ValidationError([FieldError("exam_date", "An exam cannot be dated in the future.")])
    with ctx.uow() as uow:
        s = uow.session
        _patient(s, patient_id)
        open_exam = s.scalar(
            select(PerioExamRow)
            .where(
                PerioExamRow.patient_id == patient_id,
                PerioExamRow.deleted_at.is_(None),
                PerioExamRow.status == IN_PROGRESS,
            )
            .limit(1)
        )
        if open_exam is not None:
            raise ExamInProgress(
                f"This patient's exam of {_day(ctx, open_exam.exam_date)} is still in progress: "
                "continue it, or discard it before starting another."
            )
        if provider_id is None:
            me = s.get(StaffUser, actor.user_id)
            provider_id = actor.user_id if me is not None and me.role in _CLINICIANS else None
        else:
            provider = s.get(StaffUser, provider_id)
            if provider is None or provider.deleted_at is not None or not provider.active:
                raise NotAClinician("That provider's account no longer exists or is disabled.")
            if provider.role not in _CLINICIANS:
                raise NotAClinician(f"{provider.display_name} is not a dentist or hygienist.")
        missing, implants = _chart_marks(s, patient_id)
        exam = PerioExam.blank(missing=missing, implants=implants)
        row = PerioExamRow(
            patient_id=patient_id, exam_date=day, provider_id=provider_id, status=IN_PROGRESS, readings=exam.to_json()
        )
        s.add(row)
        s.flush()
        uow.audit(
            "perio.started",
            entity_type="perio_exam",
            entity_id=row.id,
            patient_id=patient_id,
            details={
                "exam_date": day.isoformat(),
                "provider_id": provider_id,
                "missing": sorted(missing),
                "implants": sorted(implants),
            },
        )
        uow.commit()
        return _record(s, row, exam)


def save_exam(ctx: Ctx, exam_id: str, expected_version: int, exam: PerioExam) -> int:
    """Save the readings of an in-progress exam; the new version. One UPDATE of the JSON."""
    ctx.require(Scope.CHART_WRITE)
    with ctx.uow() as uow:
        s = uow.session
        row = _editable(ctx, s, exam_id, expected_version)
        exam.validate()
        text = exam.to_json()
        if text == row.readings:
            return row.version
        sites, whole = _changed(row.readings, text)
        # audited before the change so the whole save is one flush at commit
        uow.audit(
            "perio.saved",
            entity_type="perio_exam",
            entity_id=row.id,
            patient_id=row.patient_id,
            details={"sites_changed": sites, "teeth_changed": whole},
        )
        row.readings = text
        _commit(ctx, uow, exam_id)
        return row.version


def complete_exam(ctx: Ctx, exam_id: str, expected_version: int) -> ExamRecord:
    """Lock the exam as the record of this visit; it can no longer change after this."""
    actor = ctx.require(Scope.CHART_WRITE)
    with ctx.uow() as uow:
        s = uow.session
        row = _editable(ctx, s, exam_id, expected_version)
        exam = PerioExam.from_json(row.readings)
        summary = summarize(exam)
        if summary.sites_probed == 0:
            raise NothingRecorded("Nothing recorded yet: probe at least one site before completing.")
        row.status = COMPLETED
        row.completed_at = utcnow()
        row.completed_by = actor.user_id
        uow.audit(
            "perio.completed",
            entity_type="perio_exam",
            entity_id=row.id,
            patient_id=row.patient_id,
            details={
                "sites_probed": summary.sites_probed,
                "sites_4_plus": summary.sites_4_plus,
                "bleeding_pct": summary.bleeding_pct,
            },
        )
        _commit(ctx, uow, exam_id)
        return _record(s, row, exam)


def discard_exam(ctx: Ctx, exam_id: str, expected_version: int) -> None:
    """Throw away an in-progress exam (kept as a tombstone); a completed exam stays."""
    ctx.require(Scope.CHART_WRITE)
    with ctx.uow() as uow:
        s = uow.session
        row = _editable(ctx, s, exam_id, expected_version)
        row.deleted_at = utcnow()
        sites = summarize(PerioExam.from_json(row.readings)).sites_probed
        uow.audit(
            "perio.discarded",
            entity_type="perio_exam",
            entity_id=row.id,
            patient_id=row.patient_id,
            details={"exam_date": row.exam_date.isoformat(), "sites_probed": sites},
        )
        _commit(ctx, uow, exam_id)
