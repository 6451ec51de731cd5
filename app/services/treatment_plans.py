"""Treatment plans: phases and priorities, fees, insurance estimates, alternatives, decisions."""

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.db.models import ChartEntry, InsuranceBenefits, PatientInsurance, TreatmentPlan, TreatmentPlanItem
from app.domain import teeth
from app.domain.catalogue import Category
from app.domain.errors import FieldError, UserError, ValidationError
from app.domain.estimates import Benefits, Estimate, EstimateLine, estimate
from app.domain.ids import new_id
from app.domain.permissions import Scope
from app.services import audit
from app.services.charting import ChartHeader, _header, _patient, numbering, place_label
from app.services.context import Ctx, PermissionDenied

PLAN_STATUSES = ("proposed", "accepted", "declined", "completed")


class PlanNotFound(UserError):
    pass


class StalePlan(UserError):
    pass


@dataclass(frozen=True, slots=True)
class PlanItemView:
    id: str
    version: int
    entry_id: str
    entry_version: int
    phase: int
    priority: int
    code: str
    description: str
    category: str
    tooth: str | None
    place: str  # "#3 MOD", "Upper right", ...
    status: str  # of the chart entry: planned, completed, referred
    completed_on: date | None
    fee_cents: int
    insurance_cents: int
    patient_cents: int
    capped: bool


@dataclass(frozen=True, slots=True)
class PlanView:
    id: str
    version: int
    name: str
    option_group: str
    status: str
    proposed_on: date
    accepted_on: date | None
    declined_on: date | None
    completed_on: date | None
    status_reason: str
    note: str
    items: tuple[PlanItemView, ...]
    estimate: Estimate

    @property
    def phases(self) -> list[int]:
        return sorted({i.phase for i in self.items})


@dataclass(frozen=True, slots=True)
class BenefitsView:
    version: int | None  # None = not recorded yet
    carrier: str
    benefits: Benefits


@dataclass(frozen=True, slots=True)
class PlansView:
    header: ChartHeader
    benefits: BenefitsView | None
    plans: tuple[PlanView, ...]  # option groups together, oldest group first

    def alternatives(self, plan_id: str) -> list[PlanView]:
        """The plans offered as options beside this one (itself included)."""
        group = next(p.option_group for p in self.plans if p.id == plan_id)
        return [p for p in self.plans if p.option_group == group]


# --- benefits ----------------------------------------------------------------------------------


def _benefits(session: Session, patient_id: str) -> BenefitsView | None:
    carrier = session.scalar(
        select(PatientInsurance.carrier)
        .where(PatientInsurance.patient_id == patient_id, PatientInsurance.deleted_at.is_(None))
        .order_by(PatientInsurance.priority)
        .limit(1)
    )
    row = session.scalar(
        select(InsuranceBenefits).where(
            InsuranceBenefits.patient_id == patient_id, InsuranceBenefits.deleted_at.is_(None)
        )
    )
    if row is None:
        return None if carrier is None else BenefitsView(None, carrier, Benefits({}, 0, 0, 0, 0))
    coverage = {k: int(v) for k, v in json.loads(row.coverage).items()}
    b = Benefits(coverage, row.deductible_cents, row.deductible_met_cents, row.annual_max_cents, row.max_used_cents)
    return BenefitsView(row.version, carrier or "", b)


def set_benefits(ctx: Ctx, patient_id: str, expected_version: int | None, benefits: Benefits) -> BenefitsView:
    """Record what the patient's primary insurance pays this year (from the carrier's breakdown)."""
    ctx.require(Scope.PATIENTS_WRITE)
    errors = [
        FieldError(f"coverage.{k}", f"Coverage for {Category(k).label} must be 0–100 %.")
        for k, v in benefits.coverage_pct.items()
        if not 0 <= v <= 100
    ]
    for name in ("deductible_cents", "deductible_met_cents", "annual_max_cents", "max_used_cents"):
        if getattr(benefits, name) < 0:
            errors.append(FieldError(name, "Amounts cannot be negative."))
    if benefits.deductible_met_cents > benefits.deductible_cents:
        errors.append(FieldError("deductible_met_cents", "The deductible met cannot be more than the deductible."))
    if errors:
        raise ValidationError(errors)
    with ctx.uow() as uow:
        s = uow.session
        _patient(s, patient_id)
        row = s.scalar(
            select(InsuranceBenefits).where(
                InsuranceBenefits.patient_id == patient_id, InsuranceBenefits.deleted_at.is_(None)
            )
        )
        if row is None:
            if expected_version is not None:
                raise StalePlan("The insurance benefits were removed by someone else; reload.")
            row = InsuranceBenefits(patient_id=patient_id)
            s.add(row)
        elif row.version != expected_version:
            raise StalePlan(audit.stale_message(s, row.id, "benefits", "The insurance benefits"))
        row.coverage = json.dumps(dict(sorted(benefits.coverage_pct.items())))
        row.deductible_cents = benefits.deductible_cents
        row.deductible_met_cents = benefits.deductible_met_cents
        row.annual_max_cents = benefits.annual_max_cents
        row.max_used_cents = benefits.max_used_cents
        s.flush()
        uow.audit(
            "benefits.saved",
            entity_type="insurance_benefits",
            entity_id=row.id,
            patient_id=patient_id,
            details={"coverage": benefits.coverage_pct, "annual_max_cents": benefits.annual_max_cents},
        )
        uow.commit()
        view = _benefits(s, patient_id)
        assert view is not None
        return view


# --- plans -------------------------------------------------------------------------------------


def _plan_view(session: Session, plan: TreatmentPlan, benefits: Benefits | None, n: teeth.Numbering) -> PlanView:
    rows = session.execute(
        select(TreatmentPlanItem, ChartEntry)
        .join(ChartEntry, ChartEntry.id == TreatmentPlanItem.chart_entry_id)
        .where(
            TreatmentPlanItem.plan_id == plan.id,
            TreatmentPlanItem.deleted_at.is_(None),
            ChartEntry.deleted_at.is_(None),
        )
        .order_by(TreatmentPlanItem.phase, TreatmentPlanItem.priority, ChartEntry.created_at)
    ).all()
    est = estimate([EstimateLine(e.id, e.category, e.fee_cents) for _, e in rows], benefits)
    by_ref = {line.ref: line for line in est.lines}
    items = tuple(
        PlanItemView(
            i.id,
            i.version,
            e.id,
            e.version,
            i.phase,
            i.priority,
            e.code,
            e.description,
            e.category,
            e.tooth,
            place_label(e.tooth, e.surfaces, e.region, n),
            e.status,
            e.entry_date if e.status == "completed" else None,
            e.fee_cents,
            by_ref[e.id].insurance_cents,
            by_ref[e.id].patient_cents,
            by_ref[e.id].capped,
        )
        for i, e in rows
    )
    return PlanView(
        plan.id,
        plan.version,
        plan.name,
        plan.option_group,
        plan.status,
        plan.proposed_on,
        plan.accepted_on,
        plan.declined_on,
        plan.completed_on,
        plan.status_reason,
        plan.note,
        items,
        est,
    )


def _plans(session: Session, patient_id: str, n: teeth.Numbering) -> tuple[PlanView, ...]:
    bv = _benefits(session, patient_id)
    benefits = bv.benefits if bv and bv.version is not None else None
    plans = session.scalars(
        select(TreatmentPlan)
        .where(TreatmentPlan.patient_id == patient_id, TreatmentPlan.deleted_at.is_(None))
        .order_by(TreatmentPlan.created_at)
    ).all()
    first_seen: dict[str, datetime] = {}
    for p in plans:
        first_seen.setdefault(p.option_group, p.created_at)
    ordered = sorted(plans, key=lambda p: (first_seen[p.option_group], p.created_at))
    return tuple(_plan_view(session, p, benefits, n) for p in ordered)


def list_plans(ctx: Ctx, patient_id: str) -> PlansView:
    """Every plan of the patient with its estimate; the viewing is audited."""
    ctx.require(Scope.PLANS_READ)
    with ctx.uow() as uow:
        s = uow.session
        view = PlansView(
            _header(s, _patient(s, patient_id), ctx.today()),
            _benefits(s, patient_id),
            _plans(s, patient_id, numbering(ctx)),
        )
        uow.audit("plans.viewed", entity_type="patient", entity_id=patient_id, patient_id=patient_id)
        uow.commit()
    return view


def _plan(session: Session, plan_id: str, expected_version: int | None = None) -> TreatmentPlan:
    plan = session.get(TreatmentPlan, plan_id)
    if plan is None or plan.deleted_at is not None:
        raise PlanNotFound("That treatment plan no longer exists.")
    if expected_version is not None and plan.version != expected_version:
        raise StalePlan(audit.stale_message(session, plan_id, "plan", "This treatment plan"))
    return plan


def create_plan(ctx: Ctx, patient_id: str, name: str, *, alternative_to: str | None = None) -> PlanView:
    """A new empty plan; as an alternative it sits beside `alternative_to` as another option."""
    ctx.require(Scope.CHART_WRITE)
    name = name.strip()
    if not name:
        raise ValidationError([FieldError("name", "Give the plan a name, e.g. 'Option B: implant'.")])
    with ctx.uow() as uow:
        s = uow.session
        _patient(s, patient_id)
        group = new_id()
        if alternative_to:
            other = _plan(s, alternative_to)
            if other.patient_id != patient_id:
                raise PlanNotFound("That treatment plan belongs to another patient.")
            group = other.option_group
        assert ctx.actor is not None
        plan = TreatmentPlan(
            patient_id=patient_id,
            name=name[:100],
            option_group=group,
            status="proposed",
            proposed_on=ctx.today(),
            created_by=ctx.actor.user_id,
        )
        s.add(plan)
        s.flush()
        uow.audit(
            "plan.created",
            entity_type="treatment_plan",
            entity_id=plan.id,
            patient_id=patient_id,
            details={"name": plan.name, "alternative_to": alternative_to},
        )
        uow.commit()
        return _plan_view(s, plan, None, numbering(ctx))


def set_status(
    ctx: Ctx, plan_id: str, expected_version: int, status: str, *, reason: str = "", on: date | None = None
) -> PlanView:
    """Record the patient's decision. Accepting one option declines its open alternatives."""
    # the front desk records decisions too, so billing staff may do this as well as clinicians
    if not (ctx.allowed(Scope.CHART_WRITE) or ctx.allowed(Scope.BILLING_WRITE)):
        ctx.require(Scope.CHART_WRITE)
        raise PermissionDenied("Your role does not allow this.")
    if status not in ("proposed", "accepted", "declined"):
        raise ValidationError([FieldError("status", "A plan is completed by completing its procedures.")])
    when = on or ctx.today()
    if when > ctx.today():
        raise ValidationError([FieldError("on", "A decision cannot be dated in the future.")])
    with ctx.uow() as uow:
        s = uow.session
        plan = _plan(s, plan_id, expected_version)
        if plan.status == "completed":
            raise UserError(f"{plan.name} was completed on {plan.completed_on:%d %b %Y}; it can no longer change.")
        before = plan.status
        plan.status, plan.status_reason = status, reason.strip()[:200]
        plan.accepted_on = when if status == "accepted" else None
        plan.declined_on = when if status == "declined" else None
        declined_options = []
        if status == "accepted":
            for other in s.scalars(
                select(TreatmentPlan).where(
                    TreatmentPlan.option_group == plan.option_group,
                    TreatmentPlan.id != plan.id,
                    TreatmentPlan.status.in_(("proposed", "accepted")),
                    TreatmentPlan.deleted_at.is_(None),
                )
            ):
                other.status, other.declined_on = "declined", when
                other.status_reason = f"Patient chose {plan.name}"[:200]
                declined_options.append(other.id)
        uow.audit(
            "plan.status_changed",
            entity_type="treatment_plan",
            entity_id=plan.id,
            patient_id=plan.patient_id,
            details={"before": before, "after": status, "on": when.isoformat(), "declined_options": declined_options},
        )
        try:
            uow.commit()
        except StaleDataError:
            raise StalePlan(audit.stale_message(s, plan_id, "plan", "This treatment plan")) from None
        bv = _benefits(s, plan.patient_id)
        return _plan_view(s, plan, bv.benefits if bv and bv.version is not None else None, numbering(ctx))


def move_item(ctx: Ctx, item_id: str, expected_version: int, *, phase: int, priority: int) -> None:
    """Put a planned procedure in another phase or order (priority 1 comes first)."""
    ctx.require(Scope.CHART_WRITE)
    if not 1 <= phase <= 9:
        raise ValidationError([FieldError("phase", "Phases are numbered 1 to 9.")])
    with ctx.uow() as uow:
        s = uow.session
        item = s.get(TreatmentPlanItem, item_id)
        if item is None or item.deleted_at is not None:
            raise PlanNotFound("That plan line no longer exists.")
        if item.version != expected_version:
            raise StalePlan(audit.stale_message(s, item.plan_id, "plan", "This treatment plan"))
        plan = _plan(s, item.plan_id)
        siblings = list(
            s.scalars(
                select(TreatmentPlanItem)
                .where(
                    TreatmentPlanItem.plan_id == item.plan_id,
                    TreatmentPlanItem.phase == phase,
                    TreatmentPlanItem.id != item.id,
                    TreatmentPlanItem.deleted_at.is_(None),
                )
                .order_by(TreatmentPlanItem.priority)
            )
        )
        priority = max(1, min(priority, len(siblings) + 1))
        siblings.insert(priority - 1, item)
        before = (item.phase, item.priority)
        item.phase = phase
        for rank, i in enumerate(siblings, start=1):
            if i.priority != rank:
                i.priority = rank
        uow.audit(
            "plan.item_moved",
            entity_type="treatment_plan",
            entity_id=plan.id,
            patient_id=plan.patient_id,
            details={"item": item.id, "before": before, "after": (phase, priority)},
        )
        uow.commit()


def set_fee(ctx: Ctx, entry_id: str, expected_version: int, fee_cents: int) -> None:
    """Quote a different fee for one planned procedure (the catalogue fee is the default)."""
    ctx.require(Scope.CHART_WRITE)
    if not 0 <= fee_cents <= 10_000_000:
        raise ValidationError([FieldError("fee", "The fee must be between $0.00 and $100,000.00.")])
    with ctx.uow() as uow:
        s = uow.session
        e = s.get(ChartEntry, entry_id)
        if e is None or e.deleted_at is not None:
            raise PlanNotFound("That plan line no longer exists.")
        if e.version != expected_version:
            raise StalePlan(audit.stale_message(s, entry_id, "chart", "This procedure"))
        if e.status != "planned":
            raise UserError("Only planned work can be re-quoted.")
        before, e.fee_cents = e.fee_cents, fee_cents
        uow.audit(
            "chart.fee_changed",
            entity_type="chart_entry",
            entity_id=e.id,
            patient_id=e.patient_id,
            details={"before": before, "after": fee_cents},
        )
        uow.commit()
