"""What a treatment plan will cost the patient and what their insurance should pay.

Everything is whole cents in ints; the one division (by 100 for a percentage) goes through
Decimal and is rounded half-up to the cent, so an estimate never carries float error and
every total is exactly the sum of its lines.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from app.domain.catalogue import format_money
from app.domain.errors import FieldError, UserError, ValidationError

_CENT = Decimal(1)
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Benefits:
    """The patient's primary insurance for this benefit year, as typed from the carrier's
    breakdown. Not checked when made, so a form can hold what was typed; check_benefits
    (which estimate calls) refuses what an estimate cannot be built on."""

    # category value -> percent 0..100; a category absent is not covered (0 %)
    coverage_pct: Mapping[str, int]
    # per benefit year
    deductible_cents: int
    # already met this year
    deductible_met_cents: int
    # 0 = no annual maximum
    annual_max_cents: int
    # benefits already paid this year; more than the maximum just leaves nothing remaining
    max_used_cents: int
    deductible_exempt: frozenset[str] = frozenset({"diagnostic", "preventive"})

    def max_remaining_cents(self) -> int | None:
        """What the annual maximum still allows this year; None when there is no maximum."""
        if self.annual_max_cents == 0:
            return None
        return max(0, self.annual_max_cents - self.max_used_cents)


def check_benefits(benefits: Benefits) -> None:
    """Raise ValidationError (a UserError) naming each impossible field: a percent outside
    0..100 (field "coverage.<category>"), a negative amount, or more deductible met than
    the deductible."""
    errors: list[FieldError] = []
    for category, pct in benefits.coverage_pct.items():
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            errors.append(
                FieldError(f"coverage.{category}", f"Coverage for {category} must be a whole percent from 0 to 100.")
            )
    for name, label in (
        ("deductible_cents", "The deductible"),
        ("deductible_met_cents", "The deductible met"),
        ("annual_max_cents", "The annual maximum"),
        ("max_used_cents", "The benefits used"),
    ):
        if getattr(benefits, name) < 0:
            errors.append(FieldError(name, f"{label} cannot be negative."))
    if 0 <= benefits.deductible_cents < benefits.deductible_met_cents:
        errors.append(
            FieldError(
                "deductible_met_cents",
                f"The deductible met ({format_money(benefits.deductible_met_cents)}) is more than "
                f"the deductible ({format_money(benefits.deductible_cents)}).",
            )
        )
    if errors:
        raise ValidationError(errors)


@dataclass(frozen=True, slots=True)
class EstimateLine:
    """One planned procedure: `ref` is the caller's id for it, `category` a Category value."""

    ref: str
    category: str
    fee_cents: int


@dataclass(frozen=True, slots=True)
class LineEstimate:
    ref: str
    fee_cents: int
    deductible_applied_cents: int
    insurance_cents: int
    patient_cents: int
    # insurance was reduced (perhaps to nothing) because the annual maximum ran out
    capped: bool


@dataclass(frozen=True, slots=True)
class Estimate:
    lines: tuple[LineEstimate, ...]
    fee_total_cents: int
    insurance_total_cents: int
    patient_total_cents: int
    deductible_applied_cents: int
    # None when there is no insurance or no annual maximum
    max_remaining_before_cents: int | None
    max_remaining_after_cents: int | None


def _percent_of(cents: int, pct: int) -> int:
    return int((Decimal(cents) * pct / _HUNDRED).quantize(_CENT, rounding=ROUND_HALF_UP))


def estimate(lines: Sequence[EstimateLine], benefits: Benefits | None) -> Estimate:
    """Split each line's fee between insurance and the patient.

    Lines are taken in the order given (the plan's phase and priority order), because the
    deductible and the annual maximum are used up by whatever comes first. For each line:

    1. deductible remaining = deductible - met - applied to earlier lines;
    2. when the category is covered (more than 0 %) and not exempt (by default diagnostic and
       preventive are), min(deductible remaining, fee) of the deductible is applied; an
       uncovered category pays nothing, so it does not use up the deductible either;
    3. covered = (fee - deductible applied) x percent / 100, rounded half-up to the cent;
    4. with an annual maximum, insurance = min(covered, maximum remaining) and the line is
       `capped` when that is less than covered; without one, insurance = covered;
    5. patient = fee - insurance.

    With no insurance (benefits None) insurance pays nothing and no deductible applies.
    Totals are sums of the lines, so fee total = insurance total + patient total exactly.
    Raises UserError for a negative fee, and as check_benefits does for impossible benefits.
    """
    if benefits is not None:
        check_benefits(benefits)
    for line in lines:
        if line.fee_cents < 0:
            raise UserError(f"The fee for {line.ref} cannot be negative.")

    deductible_left = benefits.deductible_cents - benefits.deductible_met_cents if benefits else 0
    max_before = benefits.max_remaining_cents() if benefits else None
    max_left = max_before
    out: list[LineEstimate] = []
    for line in lines:
        fee = line.fee_cents
        pct = benefits.coverage_pct.get(line.category, 0) if benefits else 0
        deductible = 0
        if benefits and pct > 0 and line.category not in benefits.deductible_exempt:
            deductible = min(deductible_left, fee)
            deductible_left -= deductible
        covered = _percent_of(fee - deductible, pct)
        insurance = covered if max_left is None else min(covered, max_left)
        if max_left is not None:
            max_left -= insurance
        out.append(LineEstimate(line.ref, fee, deductible, insurance, fee - insurance, insurance < covered))

    return Estimate(
        lines=tuple(out),
        fee_total_cents=sum(e.fee_cents for e in out),
        insurance_total_cents=sum(e.insurance_cents for e in out),
        patient_total_cents=sum(e.patient_cents for e in out),
        deductible_applied_cents=sum(e.deductible_applied_cents for e in out),
        max_remaining_before_cents=max_before,
        max_remaining_after_cents=max_left,
    )
