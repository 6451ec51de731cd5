"""The tooth chart and treatment plans through their services, on a real encrypted clinic."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db.models import AuditEvent, ChartEntry
from app.domain.errors import UserError, ValidationError
from app.domain.estimates import Benefits
from app.domain.patients import AlertInput, InsuranceInput, PatientInput
from app.domain.permissions import Role
from app.services import catalogue, charting, patients, treatment_plans
from app.services.charting import NewEntry
from app.services.context import PermissionDenied
from tests.conftest import clinic_today


@pytest.fixture
def patient_id(staff) -> str:  # type: ignore[no-untyped-def]
    record = patients.register(
        staff[Role.DENTIST],
        PatientInput(
            "Grace",
            "Hopper",
            "12/09/1956",
            insurance=(InsuranceInput("Acme Dental (demo)", "A-100"),),
            alerts=(AlertInput("allergy", "Penicillin", True),),
        ),
    )
    return record.id


def actions(runtime, patient_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        return list(s.scalars(select(AuditEvent.action).where(AuditEvent.patient_id == patient_id)))


def test_opening_a_chart_shows_the_alerts_and_is_audited(staff, runtime, patient_id):
    view = charting.open_chart(staff[Role.HYGIENIST], patient_id)
    assert [(a.description, a.severe) for a in view.header.alerts] == [("Penicillin", True)]
    assert view.header.name == "Grace Hopper"
    assert "chart.opened" in actions(runtime, patient_id)


def test_receptionists_cannot_read_or_change_the_chart_but_can_see_plans(staff, runtime, patient_id):
    desk = staff[Role.RECEPTIONIST]
    with pytest.raises(PermissionDenied):
        charting.open_chart(desk, patient_id)
    with pytest.raises(PermissionDenied):
        charting.add_procedures(desk, patient_id, [NewEntry("RS210", "planned", tooth="36", surfaces="MO")])
    with pytest.raises(PermissionDenied):
        charting.add_condition(desk, patient_id, "caries", "36", "O")
    with runtime.sessions() as s:
        assert s.scalar(select(ChartEntry.id)) is None
    assert treatment_plans.list_plans(desk, patient_id).plans == ()


def test_a_planned_filling_shows_on_the_chart_in_history_and_in_a_new_plan(staff, runtime, patient_id):
    dentist = staff[Role.DENTIST]
    view = charting.add_procedures(dentist, patient_id, [NewEntry("RS220", "planned", tooth="36", surfaces="dom")])
    (entry,) = view.entries
    assert (entry.tooth, entry.surfaces, entry.status, entry.drawn) == ("36", "MOD", "planned", True)
    assert entry.fee_cents == 27000
    assert charting.place_label(entry.tooth, entry.surfaces, entry.region, view.numbering) == "19 MOD"
    (plan,) = treatment_plans.list_plans(dentist, patient_id).plans
    assert plan.name == "Treatment plan" and plan.status == "proposed"
    assert [(i.code, i.place, i.fee_cents) for i in plan.items] == [("RS220", "19 MOD", 27000)]
    assert "chart.entry_added" in actions(runtime, patient_id)


def test_a_filling_with_too_few_surfaces_or_no_tooth_is_refused_and_nothing_is_saved(staff, runtime, patient_id):
    dentist = staff[Role.DENTIST]
    with pytest.raises(ValidationError, match="needs 3 surfaces on tooth 19; 1 selected"):
        charting.add_procedures(dentist, patient_id, [NewEntry("RS220", "planned", tooth="36", surfaces="O")])
    with pytest.raises(ValidationError, match="select one first"):
        charting.add_procedures(dentist, patient_id, [NewEntry("RS300", "planned")])
    with pytest.raises(UserError, match="not in the catalogue"):
        charting.add_procedures(dentist, patient_id, [NewEntry("ZZ999", "planned", tooth="36")])
    with pytest.raises(ValidationError, match="future"):
        charting.add_procedures(
            dentist,
            patient_id,
            [NewEntry("RS300", "completed", tooth="36", entry_date=clinic_today() + timedelta(days=1))],
        )
    # one bad entry in a batch saves none of it
    with pytest.raises(ValidationError):
        charting.add_procedures(
            dentist, patient_id, [NewEntry("RS300", "planned", tooth="46"), NewEntry("RS220", "planned", tooth="36")]
        )
    with runtime.sessions() as s:
        assert s.scalar(select(ChartEntry.id)) is None


def test_quadrant_procedures_take_the_quadrant_of_the_selected_tooth(staff, patient_id):
    view = charting.add_procedures(staff[Role.HYGIENIST], patient_id, [NewEntry("PE100", "planned", tooth="14")])
    assert (view.entries[0].tooth, view.entries[0].region) == (None, "UR")
    assert charting.place_label(None, "", "UR", view.numbering) == "Upper right"


def test_completing_planned_work_moves_it_into_history_and_completes_the_plan(staff, runtime, patient_id):
    dentist = staff[Role.DENTIST]
    view = charting.add_procedures(
        dentist,
        patient_id,
        [NewEntry("RS300", "planned", tooth="36"), NewEntry("EN120", "planned", tooth="36")],
    )
    crown, canal = sorted(view.entries, key=lambda e: e.code)
    after = charting.complete_entry(dentist, canal.id, canal.version, on=clinic_today() - timedelta(days=1))
    done = next(e for e in after.entries if e.id == canal.id)
    assert (done.status, done.provider_name, done.entry_date) == (
        "completed",
        "Test Dentist",
        clinic_today() - timedelta(days=1),
    )
    (plan,) = treatment_plans.list_plans(dentist, patient_id).plans
    assert plan.status == "proposed"
    charting.complete_entry(dentist, crown.id, crown.version)
    (plan,) = treatment_plans.list_plans(dentist, patient_id).plans
    assert (plan.status, plan.completed_on) == ("completed", clinic_today())
    with pytest.raises(UserError, match="changed by"):
        charting.complete_entry(dentist, crown.id, crown.version)


def test_completing_needs_a_clinician_as_provider(staff, patient_id):
    dentist = staff[Role.DENTIST]
    (entry,) = charting.add_procedures(dentist, patient_id, [NewEntry("RS300", "planned", tooth="36")]).entries
    with pytest.raises(ValidationError, match="dentist or hygienist"):
        charting.complete_entry(dentist, entry.id, entry.version, provider_id=staff[Role.ADMINISTRATOR].actor.user_id)


def test_a_condition_is_charted_on_surfaces_and_removal_needs_a_reason(staff, runtime, patient_id):
    hyg = staff[Role.HYGIENIST]
    (caries,) = charting.add_condition(hyg, patient_id, "caries", "46", "do").entries
    assert (caries.status, caries.surfaces, caries.draw) == ("condition", "DO", "caries")
    with pytest.raises(ValidationError, match="select at least one"):
        charting.add_condition(hyg, patient_id, "caries", "46")
    with pytest.raises(ValidationError, match="Say why"):
        charting.remove_entry(hyg, caries.id, caries.version, "  ")
    charting.remove_entry(hyg, caries.id, caries.version, "entered on the wrong tooth")
    assert charting.open_chart(hyg, patient_id).entries == ()
    assert "chart.entry_removed" in actions(runtime, patient_id)


def test_alternatives_sit_side_by_side_and_accepting_one_declines_the_other(staff, patient_id):
    dentist = staff[Role.DENTIST]
    bridge = treatment_plans.create_plan(dentist, patient_id, "Option A: bridge")
    implant = treatment_plans.create_plan(dentist, patient_id, "Option B: implant", alternative_to=bridge.id)
    charting.add_procedures(dentist, patient_id, [NewEntry("PR220", "planned", tooth="35", plan_id=bridge.id)])
    charting.add_procedures(dentist, patient_id, [NewEntry("IM100", "planned", tooth="36", plan_id=implant.id)])
    plans = treatment_plans.list_plans(dentist, patient_id)
    assert [p.name for p in plans.alternatives(bridge.id)] == ["Option A: bridge", "Option B: implant"]
    # before a decision the chart draws the first option only, so options do not paint over each other
    drawn = {e.code: e.drawn for e in charting.open_chart(dentist, patient_id).entries}
    assert drawn == {"PR220": True, "IM100": False}
    implant = next(p for p in plans.plans if p.id == implant.id)
    accepted = treatment_plans.set_status(dentist, implant.id, implant.version, "accepted")
    assert (accepted.status, accepted.accepted_on) == ("accepted", clinic_today())
    after = {p.name: (p.status, p.status_reason) for p in treatment_plans.list_plans(dentist, patient_id).plans}
    assert after["Option A: bridge"] == ("declined", "Patient chose Option B: implant")
    drawn = {e.code: e.drawn for e in charting.open_chart(dentist, patient_id).entries}
    assert drawn == {"PR220": False, "IM100": True}
    with pytest.raises(UserError, match="declined"):
        charting.add_procedures(dentist, patient_id, [NewEntry("RS300", "planned", tooth="37", plan_id=bridge.id)])
    # the patient changes their mind: the bridge is accepted again and the implant is declined
    bridge = next(p for p in treatment_plans.list_plans(dentist, patient_id).plans if p.id == bridge.id)
    treatment_plans.set_status(dentist, bridge.id, bridge.version, "accepted")
    after = {p.name: p.status for p in treatment_plans.list_plans(dentist, patient_id).plans}
    assert after == {"Option A: bridge": "accepted", "Option B: implant": "declined"}


def test_the_front_desk_records_a_decision_but_a_hygienist_cannot_set_fees_past_the_limit(staff, patient_id):
    plan = treatment_plans.create_plan(staff[Role.DENTIST], patient_id, "Plan")
    declined = treatment_plans.set_status(staff[Role.RECEPTIONIST], plan.id, plan.version, "declined", reason="cost")
    assert (declined.status, declined.status_reason) == ("declined", "cost")
    (entry,) = charting.add_procedures(
        staff[Role.DENTIST], patient_id, [NewEntry("RS300", "planned", tooth="11")]
    ).entries
    with pytest.raises(ValidationError, match="between"):
        treatment_plans.set_fee(staff[Role.HYGIENIST], entry.id, entry.version, -1)


def test_plan_totals_and_insurance_estimate_match_a_hand_worked_case(staff, patient_id):
    dentist = staff[Role.DENTIST]
    plan = treatment_plans.create_plan(dentist, patient_id, "Restore lower left")
    charting.add_procedures(
        dentist,
        patient_id,
        [
            NewEntry("EX100", "planned", plan_id=plan.id),  # exam $60.00, diagnostic 100 %, no deductible
            NewEntry("RS210", "planned", tooth="36", surfaces="MO", plan_id=plan.id, phase=1),  # $220.00, 80 %
            NewEntry("RS300", "planned", tooth="37", plan_id=plan.id, phase=2),  # crown $1,250.00, 50 %
        ],
    )
    treatment_plans.set_benefits(
        dentist,
        patient_id,
        None,
        Benefits(
            coverage_pct={"diagnostic": 100, "restorative": 80},
            deductible_cents=5000,
            deductible_met_cents=0,
            annual_max_cents=100000,
            max_used_cents=40000,
        ),
    )
    # exam: $60 at 100 % = $60.00 insurance
    # filling: $50 deductible first, then ($220 - $50) x 80 % = $136.00 insurance, patient $84.00
    # crown: restorative 80 % of $1,250 = $1,000, but only $1,000 - $400 - $60 - $136 = $404.00 of the
    #        annual maximum is left, so insurance $404.00 (capped), patient $846.00
    (view,) = treatment_plans.list_plans(dentist, patient_id).plans
    lines = {i.code: (i.phase, i.insurance_cents, i.patient_cents, i.capped) for i in view.items}
    assert lines == {
        "EX100": (1, 6000, 0, False),
        "RS210": (1, 13600, 8400, False),
        "RS300": (2, 40400, 84600, True),
    }
    est = view.estimate
    assert (est.fee_total_cents, est.insurance_total_cents, est.patient_total_cents) == (153000, 60000, 93000)
    assert (est.max_remaining_before_cents, est.max_remaining_after_cents) == (60000, 0)


def test_benefits_that_make_no_sense_are_refused(staff, patient_id):
    with pytest.raises(ValidationError, match="0–100"):
        treatment_plans.set_benefits(
            staff[Role.RECEPTIONIST], patient_id, None, Benefits({"preventive": 120}, 0, 0, 0, 0)
        )
    with pytest.raises(ValidationError, match="more than the deductible"):
        treatment_plans.set_benefits(staff[Role.RECEPTIONIST], patient_id, None, Benefits({}, 5000, 6000, 0, 0))


def test_moving_a_plan_line_renumbers_the_phase(staff, patient_id):
    dentist = staff[Role.DENTIST]
    charting.add_procedures(
        dentist,
        patient_id,
        [NewEntry("RS300", "planned", tooth=t) for t in ("11", "21", "22")],
    )
    (plan,) = treatment_plans.list_plans(dentist, patient_id).plans
    last = plan.items[-1]
    treatment_plans.move_item(dentist, last.id, last.version, phase=1, priority=1)
    (plan,) = treatment_plans.list_plans(dentist, patient_id).plans
    assert [(i.tooth, i.priority) for i in plan.items] == [("22", 1), ("11", 2), ("21", 3)]


CATALOGUE_CSV = """code,description,category,default_fee
X1,Licensed exam,diagnostic,55.00
X2,Bad fee,diagnostic,12.5x
X3,Licensed cleaning,preventive,95.00
X4,,preventive,10.00
"""


def test_importing_a_catalogue_reports_bad_lines_and_imports_the_good_ones(staff, runtime):
    with pytest.raises(PermissionDenied):
        catalogue.import_csv(staff[Role.HYGIENIST], CATALOGUE_CSV)
    report = catalogue.import_csv(staff[Role.ADMINISTRATOR], CATALOGUE_CSV)
    assert (report.added, report.updated) == (2, 0)
    assert [b.line for b in report.bad_lines] == [3, 5]
    found = {p.code: p.fee_cents for p in catalogue.list_procedures(staff[Role.DENTIST], "licensed")}
    assert found == {"X1": 5500, "X3": 9500}
    again = catalogue.import_csv(staff[Role.ADMINISTRATOR], CATALOGUE_CSV.replace("55.00", "60.00"))
    assert (again.added, again.updated, again.unchanged) == (0, 1, 1)


def test_catalogue_search_finds_codes_and_words(staff):
    dentist = staff[Role.DENTIST]
    assert catalogue.list_procedures(dentist, "rs210")[0].code == "RS210"
    found = [p.code for p in catalogue.list_procedures(dentist, "crown ceramic")]
    assert "RS300" in found and "RS320" not in found


def test_two_teeth_selected_in_one_quadrant_make_one_quadrant_procedure(staff, patient_id):
    view = charting.add_procedures(
        staff[Role.HYGIENIST],
        patient_id,
        [NewEntry("PE100", "planned", tooth=t) for t in ("14", "15", "24")],
    )
    assert sorted(e.region for e in view.entries) == ["UL", "UR"]
