"""Treatment-plan estimates, worked by hand: what insurance pays and what the patient owes."""

import pytest

from app.domain.errors import UserError, ValidationError
from app.domain.estimates import Benefits, EstimateLine, LineEstimate, check_benefits, estimate


def plan(**coverage: int) -> dict[str, int]:
    return coverage


def test_a_no_insurance_plan_is_all_the_patient_s():
    # (a) exam $60 + filling $175 = $235, all paid by the patient
    est = estimate([EstimateLine("exam", "diagnostic", 6000), EstimateLine("fill", "restorative", 17500)], None)
    assert est.lines == (
        LineEstimate("exam", 6000, 0, 0, 6000, False),
        LineEstimate("fill", 17500, 0, 0, 17500, False),
    )
    assert (est.fee_total_cents, est.insurance_total_cents, est.patient_total_cents) == (23500, 0, 23500)
    assert est.deductible_applied_cents == 0
    assert est.max_remaining_before_cents is None and est.max_remaining_after_cents is None


def test_the_deductible_falls_on_the_filling_not_on_preventive_care():
    # (b) 100 % preventive, 80 % restorative, $50 deductible, none met, no annual maximum
    #   cleaning $115  preventive is exempt:  insurance 115.00 x 100 % = $115.00, patient $0
    #   filling  $175  deductible $50 first:  insurance (175 - 50) x 80 % = $100.00,
    #                                         patient 175 - 100 = $75.00 (the $50 + 20 % of $125)
    benefits = Benefits(plan(preventive=100, restorative=80), 5000, 0, 0, 0)
    est = estimate([EstimateLine("clean", "preventive", 11500), EstimateLine("fill", "restorative", 17500)], benefits)
    assert est.lines == (
        LineEstimate("clean", 11500, 0, 11500, 0, False),
        LineEstimate("fill", 17500, 5000, 10000, 7500, False),
    )
    assert est.deductible_applied_cents == 5000
    assert (est.fee_total_cents, est.insurance_total_cents, est.patient_total_cents) == (29000, 21500, 7500)


def test_a_deductible_partly_met_is_used_up_across_lines_in_plan_order():
    # $50 deductible with $30 met leaves $20:
    #   filling A $15: deductible $15, insurance 0 x 80 % = $0, patient $15
    #   filling B $100: deductible the last $5, insurance 95 x 80 % = $76.00, patient $24.00
    #   filling C $100: no deductible left, insurance $80.00, patient $20.00
    benefits = Benefits(plan(restorative=80), 5000, 3000, 0, 0)
    est = estimate(
        [EstimateLine("A", "restorative", 1500), EstimateLine("B", "restorative", 10000),
         EstimateLine("C", "restorative", 10000)],
        benefits,
    )  # fmt: skip
    assert [(e.deductible_applied_cents, e.insurance_cents, e.patient_cents) for e in est.lines] == [
        (1500, 0, 1500),
        (500, 7600, 2400),
        (0, 8000, 2000),
    ]
    assert est.deductible_applied_cents == 2000


def test_an_uncovered_category_pays_nothing_and_leaves_the_deductible_alone():
    # whitening is not on the plan (0 %): the patient pays all $450 and the $50 deductible is
    # still there for the filling after it: (175 - 50) x 80 % = $100
    benefits = Benefits(plan(restorative=80), 5000, 0, 0, 0)
    est = estimate([EstimateLine("white", "adjunctive", 45000), EstimateLine("fill", "restorative", 17500)], benefits)
    assert est.lines == (
        LineEstimate("white", 45000, 0, 0, 45000, False),
        LineEstimate("fill", 17500, 5000, 10000, 7500, False),
    )


def test_the_annual_maximum_caps_the_crown_and_everything_after_it():
    # (c) annual maximum $1,500 with $1,200 already paid this year leaves $300
    #   crown  $1,200 at 50 %, deductible already met: would pay $600, capped at $300,
    #          patient 1,200 - 300 = $900
    #   core   $285 at 50 %: would pay $142.50, nothing left -> $0, patient $285, capped
    #   exam   $60 at 100 %: would pay $60, nothing left -> $0, patient $60, capped
    #   whitening $450 at 0 %: insurance would pay nothing anyway, so it is not "capped"
    benefits = Benefits(plan(restorative=50, diagnostic=100), 5000, 5000, 150000, 120000)
    est = estimate(
        [
            EstimateLine("crown", "restorative", 120000),
            EstimateLine("core", "restorative", 28500),
            EstimateLine("exam", "diagnostic", 6000),
            EstimateLine("white", "adjunctive", 45000),
        ],
        benefits,
    )
    assert est.lines == (
        LineEstimate("crown", 120000, 0, 30000, 90000, True),
        LineEstimate("core", 28500, 0, 0, 28500, True),
        LineEstimate("exam", 6000, 0, 0, 6000, True),
        LineEstimate("white", 45000, 0, 0, 45000, False),
    )
    assert est.max_remaining_before_cents == 30000
    assert est.max_remaining_after_cents == 0
    # 1,200 + 285 + 60 + 450 = $1,995 = $300 insurance + $1,695 patient
    assert (est.fee_total_cents, est.insurance_total_cents, est.patient_total_cents) == (199500, 30000, 169500)


def test_a_maximum_that_is_not_reached_is_reported_with_what_remains():
    # $1,000 maximum, $0 used: a $200 filling at 80 % pays $160, leaving $840
    est = estimate([EstimateLine("fill", "restorative", 20000)], Benefits(plan(restorative=80), 0, 0, 100000, 0))
    assert est.lines == (LineEstimate("fill", 20000, 0, 16000, 4000, False),)
    assert (est.max_remaining_before_cents, est.max_remaining_after_cents) == (100000, 84000)


def test_odd_cents_round_half_up_per_line_and_totals_are_the_sums_of_the_lines():
    # (d) three $33.33 lines at 80 %: 3,333 x 0.8 = 2,666.4 cents -> $26.66 each (down),
    #     patient 33.33 - 26.66 = $6.67 each; totals $99.99 = $79.98 + $20.01
    est = estimate(
        [EstimateLine(str(i), "restorative", 3333) for i in range(3)], Benefits(plan(restorative=80), 0, 0, 0, 0)
    )
    assert [(e.insurance_cents, e.patient_cents) for e in est.lines] == [(2666, 667)] * 3
    assert (est.fee_total_cents, est.insurance_total_cents, est.patient_total_cents) == (9999, 7998, 2001)

    # at 50 %: 3,333 x 0.5 = 1,666.5 cents -> half-up gives $16.67 each (banker's rounding
    # would give $16.66); totals $99.99 = $50.01 + $49.98, not 50 % of $99.99 rounded once
    est = estimate(
        [EstimateLine(str(i), "restorative", 3333) for i in range(3)], Benefits(plan(restorative=50), 0, 0, 0, 0)
    )
    assert [(e.insurance_cents, e.patient_cents) for e in est.lines] == [(1667, 1666)] * 3
    assert (est.fee_total_cents, est.insurance_total_cents, est.patient_total_cents) == (9999, 5001, 4998)
    assert est.fee_total_cents == est.insurance_total_cents + est.patient_total_cents


def test_benefits_used_beyond_the_maximum_leave_nothing_rather_than_a_negative():
    est = estimate([EstimateLine("fill", "restorative", 10000)], Benefits(plan(restorative=80), 0, 0, 100000, 110000))
    assert est.lines == (LineEstimate("fill", 10000, 0, 0, 10000, True),)
    assert (est.max_remaining_before_cents, est.max_remaining_after_cents) == (0, 0)


def test_impossible_benefits_are_refused_field_by_field():
    # a form may hold what was typed; the estimate is what refuses it
    typed = Benefits(plan(restorative=120, preventive=100), -1, 0, -5, 0)
    with pytest.raises(ValidationError) as e:
        estimate([EstimateLine("fill", "restorative", 10000)], typed)
    assert e.value.messages() == {
        "coverage.restorative": "Coverage for restorative must be a whole percent from 0 to 100.",
        "deductible_cents": "The deductible cannot be negative.",
        "annual_max_cents": "The annual maximum cannot be negative.",
    }
    with pytest.raises(ValidationError) as e:
        check_benefits(Benefits(plan(), 5000, 6000, 0, 0))
    assert e.value.messages() == {
        "deductible_met_cents": "The deductible met ($60.00) is more than the deductible ($50.00)."
    }


def test_a_negative_fee_is_refused():
    with pytest.raises(UserError, match="The fee for fill cannot be negative."):
        estimate([EstimateLine("fill", "restorative", -100)], None)
