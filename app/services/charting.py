"""The tooth chart: conditions found and procedures existing, planned, completed or referred.

A planned procedure always belongs to a treatment plan (the patient's open plan, or a new
one), so the chart, its history and the plan stay one set of rows and update together.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.db.models import ChartEntry, MedicalAlert, Patient, StaffUser, TreatmentPlan, TreatmentPlanItem
from app.db.types import utcnow
from app.domain import teeth
from app.domain.catalogue import Area
from app.domain.dates import age_on
from app.domain.errors import FieldError, UserError, ValidationError
from app.domain.ids import new_id
from app.domain.permissions import Role, Scope
from app.services import audit, catalogue
from app.services.context import Ctx

STATUSES = ("existing", "planned", "completed", "referred")
CONDITION = "condition"
QUADRANTS = {1: "UR", 2: "UL", 3: "LL", 4: "LR"}
ARCHES = {teeth.Arch.UPPER: "U", teeth.Arch.LOWER: "L"}
REGION_LABELS = {
    "UR": "Upper right",
    "UL": "Upper left",
    "LL": "Lower left",
    "LR": "Lower right",
    "U": "Upper",
    "L": "Lower",
}
# plans whose planned work is still to come; new planned procedures join the newest of these
OPEN_PLAN = ("proposed", "accepted")


class ChartEntryNotFound(UserError):
    pass


class StaleChartEntry(UserError):
    pass


@dataclass(frozen=True, slots=True)
class AlertLine:
    kind: str
    description: str
    severe: bool


@dataclass(frozen=True, slots=True)
class ChartHeader:
    patient_id: str
    name: str
    chart_no: str
    date_of_birth: date
    age: int
    alerts: tuple[AlertLine, ...]


@dataclass(frozen=True, slots=True)
class EntryView:
    id: str
    version: int
    kind: str  # condition, procedure
    code: str
    description: str
    category: str
    draw: str
    tooth: str | None
    surfaces: str
    region: str
    status: str  # condition, existing, planned, completed, referred
    fee_cents: int
    provider_name: str
    entry_date: date
    completed_at: datetime | None
    note: str
    plan_id: str | None
    plan_name: str
    drawn: bool  # shown on the odontogram (planned work of a declined or non-chosen option is not)


@dataclass(frozen=True, slots=True)
class ChartView:
    header: ChartHeader
    numbering: teeth.Numbering
    entries: tuple[EntryView, ...]  # newest first, as the history lists them


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A procedure to record on the chart; several teeth selected make several entries."""

    code: str
    status: str
    tooth: str | None = None
    surfaces: str = ""
    region: str = ""
    entry_date: date | None = None
    provider_id: str | None = None
    note: str = ""
    plan_id: str | None = None
    phase: int = 1


def _patient(session: Session, patient_id: str) -> Patient:
    p = session.get(Patient, patient_id)
    if p is None or p.deleted_at is not None:
        raise UserError("That patient record does not exist.")
    return p


def _header(session: Session, p: Patient, today: date) -> ChartHeader:
    alerts = session.scalars(
        select(MedicalAlert)
        .where(MedicalAlert.patient_id == p.id, MedicalAlert.deleted_at.is_(None))
        .order_by(MedicalAlert.severe.desc(), MedicalAlert.created_at)
    )
    return ChartHeader(
        p.id,
        f"{p.first_name} {p.last_name}",
        p.chart_no,
        p.date_of_birth,
        age_on(p.date_of_birth, today),
        tuple(AlertLine(a.kind, a.description, a.severe) for a in alerts),
    )


def _visible_plans(plans: Sequence[TreatmentPlan]) -> set[str]:
    """Plans whose planned work the chart draws: the accepted option of each group, else its
    first proposed option, so alternatives never paint over each other."""
    visible: set[str] = set()
    for group in {p.option_group for p in plans}:
        options = sorted((p for p in plans if p.option_group == group), key=lambda p: p.created_at)
        accepted = [p.id for p in options if p.status == "accepted"]
        proposed = [p.id for p in options if p.status == "proposed"]
        visible.update(accepted or proposed[:1])
    return visible


def load_entries(session: Session, patient_id: str) -> tuple[EntryView, ...]:
    rows = session.execute(
        select(ChartEntry, StaffUser.display_name, TreatmentPlanItem.plan_id)
        .outerjoin(StaffUser, StaffUser.id == ChartEntry.provider_id)
        .outerjoin(
            TreatmentPlanItem,
            (TreatmentPlanItem.chart_entry_id == ChartEntry.id) & TreatmentPlanItem.deleted_at.is_(None),
        )
        .where(ChartEntry.patient_id == patient_id, ChartEntry.deleted_at.is_(None))
        .order_by(ChartEntry.entry_date.desc(), ChartEntry.created_at.desc())
    ).all()
    plans = session.scalars(
        select(TreatmentPlan).where(TreatmentPlan.patient_id == patient_id, TreatmentPlan.deleted_at.is_(None))
    ).all()
    names = {p.id: p.name for p in plans}
    visible = _visible_plans(plans)
    return tuple(
        EntryView(
            e.id,
            e.version,
            e.kind,
            e.code,
            e.description,
            e.category,
            e.draw,
            e.tooth,
            e.surfaces,
            e.region,
            e.status,
            e.fee_cents,
            provider or "",
            e.entry_date,
            e.completed_at,
            e.note,
            plan_id,
            names.get(plan_id, "") if plan_id else "",
            e.status != "planned" or plan_id in visible,
        )
        for e, provider, plan_id in rows
    )


def chart_header(ctx: Ctx, patient_id: str) -> ChartHeader:
    """Name, age and medical alerts for the chart screen's header (part of the patient record
    every role may read; the tabs below audit what they open)."""
    ctx.require(Scope.PATIENTS_READ)
    with ctx.runtime.sessions() as s:
        return _header(s, _patient(s, patient_id), ctx.today())


def numbering(ctx: Ctx) -> teeth.Numbering:
    return teeth.Numbering(ctx.runtime.info.tooth_numbering)


def _chart_view(ctx: Ctx, session: Session, p: Patient) -> ChartView:
    return ChartView(_header(session, p, ctx.today()), numbering(ctx), load_entries(session, p.id))


def open_chart(ctx: Ctx, patient_id: str) -> ChartView:
    """The patient's chart with its header; each opening is audited."""
    ctx.require(Scope.CHART_READ)
    with ctx.uow() as uow:
        p = _patient(uow.session, patient_id)
        view = _chart_view(ctx, uow.session, p)
        uow.audit("chart.opened", entity_type="patient", entity_id=patient_id, patient_id=patient_id)
        uow.commit()
    return view


def _place(area: str, code: str, tooth: str | None, surfaces: str, region: str) -> tuple[str | None, str, str]:
    """Where a procedure goes, checked against what its catalogue entry needs."""
    if area == Area.MOUTH:
        return None, "", ""
    if area in (Area.QUADRANT, Area.ARCH):
        if tooth and not region:
            region = QUADRANTS[teeth.quadrant(tooth)] if area == Area.QUADRANT else ARCHES[teeth.arch(tooth)]
        allowed = QUADRANTS.values() if area == Area.QUADRANT else ARCHES.values()
        if region not in allowed:
            raise ValidationError([FieldError("region", f"{code} is charted on a {area}: choose one.")])
        return None, "", region
    if not tooth or not teeth.is_tooth(tooth):
        raise ValidationError([FieldError("tooth", f"{code} is charted on a tooth: select one first.")])
    if area == Area.SURFACE:
        stored = teeth.parse_surfaces(surfaces, tooth) if surfaces else ""
        return tooth, stored, ""
    return tooth, "", ""


def _check_surfaces(p_code: str, required: int, tooth: str, stored: str, n: teeth.Numbering) -> None:
    if len(stored) < required:
        label = teeth.to_label(tooth, n)
        raise ValidationError(
            [
                FieldError(
                    "surfaces",
                    f"{p_code} needs {required} surface{'s' if required > 1 else ''} on tooth {label}; "
                    f"{len(stored) or 'none'} selected.",
                )
            ]
        )


def _provider(session: Session, ctx: Ctx, provider_id: str | None) -> str:
    if provider_id:
        u = session.get(StaffUser, provider_id)
        if u is None or u.role not in (Role.DENTIST, Role.HYGIENIST):
            raise ValidationError([FieldError("provider_id", "Choose a dentist or hygienist as the provider.")])
        return provider_id
    assert ctx.actor is not None
    if ctx.actor.role in (Role.DENTIST, Role.HYGIENIST):
        return ctx.actor.user_id
    raise ValidationError([FieldError("provider_id", "Choose the provider who did the work.")])


def open_plan_for(session: Session, ctx: Ctx, patient_id: str, plan_id: str | None) -> TreatmentPlan:
    """The plan a new planned procedure joins: the one named, else the patient's newest open
    plan, else a new one."""
    if plan_id:
        plan = session.get(TreatmentPlan, plan_id)
        if plan is None or plan.patient_id != patient_id or plan.deleted_at is not None:
            raise UserError("That treatment plan does not exist.")
        if plan.status not in OPEN_PLAN:
            raise UserError(f"{plan.name} is {plan.status}; add the procedure to an open plan or a new one.")
        return plan
    plan = session.scalar(
        select(TreatmentPlan)
        .where(
            TreatmentPlan.patient_id == patient_id,
            TreatmentPlan.status.in_(OPEN_PLAN),
            TreatmentPlan.deleted_at.is_(None),
        )
        .order_by(TreatmentPlan.created_at.desc())
        .limit(1)
    )
    if plan is None:
        assert ctx.actor is not None
        plan = TreatmentPlan(
            patient_id=patient_id,
            name="Treatment plan",
            option_group=new_id(),
            status="proposed",
            proposed_on=ctx.today(),
            created_by=ctx.actor.user_id,
        )
        session.add(plan)
        session.flush()
    return plan


def add_procedures(ctx: Ctx, patient_id: str, entries: Sequence[NewEntry]) -> ChartView:
    """Record procedures (one per tooth selected); planned ones join a treatment plan."""
    ctx.require(Scope.CHART_WRITE)
    n = numbering(ctx)
    today = ctx.today()
    with ctx.uow() as uow:
        s = uow.session
        p = _patient(s, patient_id)
        placed: set[tuple[str, str | None, str, str, str]] = set()
        for new in entries:
            if new.status not in STATUSES:
                raise ValidationError([FieldError("status", f"Unknown status {new.status!r}.")])
            proc = catalogue.get_procedure(s, new.code)
            tooth, surfaces, region = _place(proc.area, proc.code, new.tooth, new.surfaces, new.region)
            if tooth and proc.area == Area.SURFACE:
                _check_surfaces(proc.code, proc.surfaces_required, tooth, surfaces, n)
            # two teeth selected in one quadrant make one quadrant procedure, not two
            if (proc.code, tooth, surfaces, region, new.status) in placed:
                continue
            placed.add((proc.code, tooth, surfaces, region, new.status))
            when = new.entry_date or today
            if new.status in ("completed", "existing") and when > today:
                raise ValidationError([FieldError("entry_date", "Work already done cannot be dated in the future.")])
            if when < p.date_of_birth:
                raise ValidationError([FieldError("entry_date", "That date is before the patient was born.")])
            completed = new.status == "completed"
            entry = ChartEntry(
                patient_id=patient_id,
                kind="procedure",
                code=proc.code,
                description=proc.description,
                category=proc.category,
                draw=proc.draw,
                tooth=tooth,
                surfaces=surfaces,
                region=region,
                status=new.status,
                fee_cents=proc.fee_cents,
                provider_id=_provider(s, ctx, new.provider_id) if completed else new.provider_id,
                entry_date=when,
                completed_at=utcnow() if completed else None,
                note=new.note.strip()[:500],
            )
            s.add(entry)
            s.flush()
            details: dict[str, object] = {"code": proc.code, "tooth": tooth, "surfaces": surfaces, "status": new.status}
            if new.status == "planned":
                plan = open_plan_for(s, ctx, patient_id, new.plan_id)
                top = max((i.priority for i in _items(s, plan.id) if i.phase == new.phase), default=0)
                s.add(
                    TreatmentPlanItem(
                        plan_id=plan.id, chart_entry_id=entry.id, phase=max(new.phase, 1), priority=top + 1
                    )
                )
                details["plan_id"] = plan.id
            uow.audit(
                "chart.entry_added",
                entity_type="chart_entry",
                entity_id=entry.id,
                patient_id=patient_id,
                details=details,
            )
        uow.commit()
        return _chart_view(ctx, s, p)


def add_condition(ctx: Ctx, patient_id: str, code: str, tooth: str, surfaces: str = "", note: str = "") -> ChartView:
    """Record a finding (caries, fracture, missing, watch, ...) on a tooth."""
    ctx.require(Scope.CHART_WRITE)
    known = {c.code: c for c in catalogue.conditions()}
    if code not in known:
        raise ValidationError([FieldError("code", f"Unknown condition {code!r}.")])
    cond = known[code]
    if not teeth.is_tooth(tooth):
        raise ValidationError([FieldError("tooth", "Select a tooth first.")])
    stored = teeth.parse_surfaces(surfaces, tooth) if surfaces else ""
    if cond.area == Area.SURFACE and not stored:
        raise ValidationError([FieldError("surfaces", f"{cond.label} is charted on surfaces: select at least one.")])
    with ctx.uow() as uow:
        s = uow.session
        p = _patient(s, patient_id)
        entry = ChartEntry(
            patient_id=patient_id,
            kind=CONDITION,
            code=cond.code,
            description=cond.label,
            category="",
            draw=cond.draw,
            tooth=tooth,
            surfaces=stored if cond.area == Area.SURFACE else "",
            region="",
            status=CONDITION,
            fee_cents=0,
            provider_id=ctx.actor.user_id if ctx.actor and ctx.actor.role in (Role.DENTIST, Role.HYGIENIST) else None,
            entry_date=ctx.today(),
            note=note.strip()[:500],
        )
        s.add(entry)
        s.flush()
        uow.audit(
            "chart.condition_added",
            entity_type="chart_entry",
            entity_id=entry.id,
            patient_id=patient_id,
            details={"code": code, "tooth": tooth, "surfaces": entry.surfaces},
        )
        uow.commit()
        return _chart_view(ctx, s, p)


def _items(session: Session, plan_id: str) -> list[TreatmentPlanItem]:
    return list(
        session.scalars(
            select(TreatmentPlanItem).where(
                TreatmentPlanItem.plan_id == plan_id, TreatmentPlanItem.deleted_at.is_(None)
            )
        )
    )


def _entry(session: Session, entry_id: str, expected_version: int) -> ChartEntry:
    e = session.get(ChartEntry, entry_id)
    if e is None or e.deleted_at is not None:
        raise ChartEntryNotFound("That chart entry no longer exists; the chart has been reloaded.")
    if e.version != expected_version:
        raise StaleChartEntry(audit.stale_message(session, entry_id, "chart", "This chart entry"))
    return e


def _finish_plan_if_done(session: Session, plan_id: str, on: date) -> None:
    plan = session.get(TreatmentPlan, plan_id)
    assert plan is not None
    entries = [session.get(ChartEntry, i.chart_entry_id) for i in _items(session, plan_id)]
    if entries and all(e is not None and (e.status == "completed" or e.deleted_at) for e in entries):
        plan.status, plan.completed_on = "completed", on


def complete_entry(
    ctx: Ctx,
    entry_id: str,
    expected_version: int,
    *,
    provider_id: str | None = None,
    on: date | None = None,
    appointment_id: str | None = None,
) -> ChartView:
    """Planned work done: it moves into the chart history with its provider and date."""
    ctx.require(Scope.CHART_WRITE)
    when = on or ctx.today()
    if when > ctx.today():
        raise ValidationError([FieldError("entry_date", "Work cannot be completed on a future date.")])
    with ctx.uow() as uow:
        s = uow.session
        e = _entry(s, entry_id, expected_version)
        if e.status not in ("planned", "referred"):
            raise UserError(f"This entry is {e.status}; only planned or referred work can be completed.")
        e.provider_id = _provider(s, ctx, provider_id)
        e.status, e.entry_date, e.completed_at, e.appointment_id = "completed", when, utcnow(), appointment_id
        item = s.scalar(
            select(TreatmentPlanItem).where(
                TreatmentPlanItem.chart_entry_id == e.id, TreatmentPlanItem.deleted_at.is_(None)
            )
        )
        s.flush()
        if item:
            _finish_plan_if_done(s, item.plan_id, when)
        uow.audit(
            "chart.entry_completed",
            entity_type="chart_entry",
            entity_id=e.id,
            patient_id=e.patient_id,
            details={"code": e.code, "tooth": e.tooth, "on": when.isoformat(), "provider_id": e.provider_id},
        )
        try:
            uow.commit()
        except StaleDataError:
            raise StaleChartEntry(audit.stale_message(s, entry_id, "chart", "This chart entry")) from None
        return _chart_view(ctx, s, _patient(s, e.patient_id))


def remove_entry(ctx: Ctx, entry_id: str, expected_version: int, reason: str) -> ChartView:
    """Take back an entry made in error; it stays in the audit trail with the reason."""
    ctx.require(Scope.CHART_WRITE)
    reason = reason.strip()
    if not reason:
        raise ValidationError([FieldError("reason", "Say why the entry is being removed (e.g. entered in error).")])
    with ctx.uow() as uow:
        s = uow.session
        e = _entry(s, entry_id, expected_version)
        now = utcnow()
        e.deleted_at, e.removed_reason = now, reason[:200]
        for item in s.scalars(select(TreatmentPlanItem).where(TreatmentPlanItem.chart_entry_id == e.id)):
            item.deleted_at = now
        uow.audit(
            "chart.entry_removed",
            entity_type="chart_entry",
            entity_id=e.id,
            patient_id=e.patient_id,
            details={"code": e.code, "tooth": e.tooth, "status": e.status, "reason": reason},
        )
        uow.commit()
        return _chart_view(ctx, s, _patient(s, e.patient_id))


def place_label(tooth: str | None, surfaces: str, region: str, n: teeth.Numbering) -> str:
    """Where an entry sits, as a clinician reads it: '3 MOD', 'Upper right', 'Whole mouth'."""
    if tooth:
        shown = teeth.surfaces_label(surfaces, tooth) if surfaces else ""
        return f"{teeth.to_label(tooth, n)} {shown}".strip()
    if region:
        return REGION_LABELS.get(region, region)
    return "Whole mouth"
