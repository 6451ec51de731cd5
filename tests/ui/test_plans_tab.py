"""The Treatment plans tab on a real encrypted clinic: phases, exact estimates, options side by side,
the patient's decision, and who may change what."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog

from app.domain.errors import ValidationError
from app.domain.estimates import Benefits
from app.domain.patients import InsuranceInput, PatientInput
from app.domain.permissions import Role
from app.services import charting, patients, treatment_plans
from app.services.charting import NewEntry
from app.ui.chart.benefits_dialog import BenefitsDialog
from app.ui.chart.plans_tab import CAPPED_TIP, DONE_GREY, PlanCard, PlansTab, day_text
from tests.conftest import clinic_today
from tests.ui.conftest import wait_ops

TODAY = day_text(clinic_today())


@pytest.fixture
def patient_id(staff) -> str:  # type: ignore[no-untyped-def]
    dentist = staff[Role.DENTIST]
    record = patients.register(
        dentist,
        PatientInput("Grace", "Hopper", "12/09/1956", insurance=(InsuranceInput("Acme Dental (demo)", "A-100"),)),
    )
    charting.add_procedures(
        dentist,
        record.id,
        [NewEntry("RS210", "planned", tooth="36", surfaces="MO"), NewEntry("RS300", "planned", tooth="37", phase=2)],
    )
    return record.id


def open_tab(qtbot, ctx, patient_id: str | None) -> PlansTab:  # type: ignore[no-untyped-def]
    tab = PlansTab(ctx)
    qtbot.addWidget(tab)
    tab.resize(1500, 900)
    tab.show()
    qtbot.waitExposed(tab)
    tab.set_patient(patient_id)
    wait_ops(qtbot)
    return tab


def only_card(tab: PlansTab) -> PlanCard:
    (card,) = tab.cards()
    return card


def line(card: PlanCard, code: str):  # type: ignore[no-untyped-def]
    return next(i for i in card.plan.items if i.code == code)


def lines_by_code(card: PlanCard) -> dict[str, tuple[str, ...]]:
    return {row[2]: row for row in card.rows() if row[2]}


def typical_benefits(tab: PlansTab, deductible: str = "50", annual_max: str = "1,000") -> Benefits:
    # the tab owns the dialog: a dropped parentless one would be deleted by whichever thread's
    # garbage collection found it, perhaps a worker's
    dialog = BenefitsDialog("Acme Dental (demo)", parent=tab)
    dialog.fill_typical()
    dialog.money["deductible_cents"].setText(deductible)
    dialog.money["annual_max_cents"].setText(annual_max)
    return dialog.benefits()


def test_the_tab_shows_each_phase_and_the_exact_fee_total(qtbot, staff, patient_id):
    tab = open_tab(qtbot, staff[Role.DENTIST], patient_id)
    card = only_card(tab)

    assert card.title.text() == "Treatment plan"
    assert card.badge.text() == "Proposed"
    rows = card.rows()
    assert [r[0] for r in rows] == ["Phase 1", "1", "Phase 2", "1"]
    filling, crown = line(card, "RS210"), line(card, "RS300")
    assert rows[1][1:5] == (filling.place, "RS210", "Composite filling, back tooth, two surfaces", "$220.00")
    assert rows[3][1:5] == (crown.place, "RS300", "Crown, all-ceramic or zirconia", "$1,250.00")
    assert rows[0][4] == "$220.00" and rows[2][4] == "$1,250.00"  # phase subtotals
    assert "Fee total $1,470.00" in card.totals_text()
    # insurance on file but its benefits not typed in yet: nothing is guessed
    assert "Benefits not recorded" in tab.insurance_text()
    assert rows[1][5:] == ("—", "—")
    assert "Insurance estimate not estimated" in card.totals_text()
    money = card.tree_item(filling.id).textAlignment(4)
    assert money & Qt.AlignmentFlag.AlignRight


def test_benefits_typed_in_the_dialog_give_hand_worked_estimates(qtbot, staff, patient_id):
    tab = open_tab(qtbot, staff[Role.DENTIST], patient_id)

    tab.apply_benefits(typical_benefits(tab))
    wait_ops(qtbot)

    assert tab.plans_view().benefits.version is not None  # type: ignore[union-attr]
    assert tab.insurance_text() == (
        "Primary insurance: Acme Dental (demo) — Diagnostic & Preventive 100 %; "
        "Restorative, Endodontics, Periodontics & Oral surgery 80 %; Prosthodontics, Implants & Orthodontics 50 %; "
        "other work 0 % · Deductible $50.00 ($0.00 met) · Annual max $1,000.00, $0.00 used"
    )
    card = only_card(tab)
    rows = lines_by_code(card)
    # the filling comes first: the $50 deductible, then 80 % of the other $170
    assert rows["RS210"][4:] == ("$220.00", "$136.00", "$84.00")
    # 80 % of $1,250 is $1,000, but only $864 of the annual maximum is left
    assert rows["RS300"][4:] == ("$1,250.00", "↓ $864.00", "$386.00")
    crown = card.tree_item(line(card, "RS300").id)
    assert crown.toolTip(5) == CAPPED_TIP
    assert card.tree_item(line(card, "RS210").id).toolTip(5) == ""
    assert card.totals_text().splitlines() == [
        "Fee total $1,470.00",
        "Insurance estimate $1,000.00",
        "Patient portion $470.00",
        "Deductible applied: $50.00",
        "Annual maximum left: $1,000.00 → $0.00 after this plan",
        f"↓ {CAPPED_TIP}",
    ]


def test_the_benefits_dialog_marks_each_bad_field_and_nothing_is_saved(qtbot, staff, patient_id):
    tab = open_tab(qtbot, staff[Role.RECEPTIONIST], patient_id)
    assert tab.benefits_button.isEnabled()
    dialog = BenefitsDialog("Acme Dental (demo)", parent=tab)
    dialog.money["deductible_cents"].setText("fifty")
    dialog.money["annual_max_cents"].setText("1,000.005")
    dialog.money["max_used_cents"].setText("-20")

    with pytest.raises(ValidationError) as refused:
        dialog.benefits()
    assert set(refused.value.messages()) == {"deductible_cents", "annual_max_cents", "max_used_cents"}
    assert dialog.field_messages["deductible_cents"].text() == 'Deductible: "fifty" is not an amount of money.'
    assert "more than two decimal places" in dialog.field_messages["annual_max_cents"].text()
    assert "negative" in dialog.field_messages["max_used_cents"].text()
    assert not dialog.field_messages["deductible_met_cents"].text()

    dialog._try_accept()  # OK with bad fields: the dialog stays open with its message
    assert dialog.result() != dialog.DialogCode.Accepted and dialog.value is None
    assert "correct the 3 fields marked in red" in dialog.message.text()

    dialog.money["deductible_cents"].setText("50")
    dialog.money["deductible_met_cents"].setText("60")
    dialog.money["annual_max_cents"].setText("")
    dialog.money["max_used_cents"].setText("")
    with pytest.raises(ValidationError) as refused:
        dialog.benefits()
    assert set(refused.value.messages()) == {"deductible_met_cents"}
    assert dialog.field_messages["deductible_cents"].text() == ""
    assert "more than the deductible" in dialog.field_messages["deductible_met_cents"].text()
    assert treatment_plans.list_plans(staff[Role.RECEPTIONIST], patient_id).benefits.version is None  # type: ignore[union-attr]

    dialog.money["deductible_met_cents"].setText("$12.50")
    dialog.coverage[next(iter(dialog.coverage))].setValue(90)
    dialog._try_accept()
    assert dialog.value == Benefits(
        {c.value: 90 if i == 0 else 0 for i, c in enumerate(dialog.coverage)}, 5000, 1250, 0, 0
    )


def test_the_benefits_dialog_shows_what_is_recorded_and_fills_typical_percentages(qtbot):
    recorded = Benefits({"restorative": 70}, 5000, 2500, 150000, 120000)
    dialog = BenefitsDialog("Acme Dental (demo)", recorded)
    qtbot.addWidget(dialog)
    assert dialog.money["annual_max_cents"].text() == "1,500.00"
    assert dialog.money["max_used_cents"].text() == "1,200.00"
    assert dialog.benefits() == Benefits(
        {c.value: 70 if c.value == "restorative" else 0 for c in dialog.coverage}, 5000, 2500, 150000, 120000
    )
    dialog.fill_typical()
    pct = {c.value: s.value() for c, s in dialog.coverage.items()}
    assert pct["preventive"] == 100 and pct["oral_surgery"] == 80 and pct["implants"] == 50
    assert pct["orthodontics"] == 50 and pct["adjunctive"] == 0


def test_an_alternative_sits_beside_the_first_and_accepting_it_declines_the_first(qtbot, staff, patient_id):
    tab = open_tab(qtbot, staff[Role.DENTIST], patient_id)
    first = only_card(tab).plan
    assert tab.current_plan_id() == first.id
    assert tab.new_alternative_button.isEnabled()

    tab.create_plan("Option B: extract and implant", alternative_to=first.id)
    wait_ops(qtbot)
    tab.create_plan("Whitening")
    wait_ops(qtbot)

    names = {p.id: p.name for p in tab.plans_view().plans}  # type: ignore[union-attr]
    assert [[names[i] for i in row] for row in tab.card_rows()] == [
        ["Treatment plan", "Option B: extract and implant"],
        ["Whitening"],
    ]
    alternative = next(c for c in tab.cards() if c.plan.name.startswith("Option B"))
    assert alternative.empty.isVisibleTo(alternative) and not alternative.tree.isVisibleTo(alternative)

    tab.set_plan_status(alternative.plan.id, "accepted")
    wait_ops(qtbot)

    chosen, other = tab.card(alternative.plan.id), tab.card(first.id)
    assert chosen.badge.text() == f"Accepted {TODAY}"
    assert chosen.property("state") == "accepted"
    assert other.badge.text() == f"Declined {TODAY}"
    assert other.reason.text() == "Reason: Patient chose Option B: extract and implant"
    assert other.property("state") == "declined"
    # the declined option is dimmed and cannot be accepted over the chosen one, only reopened
    assert other.tree_item(line(other, "RS210").id).foreground(3).color().name() == DONE_GREY.lower()
    assert not other.accept_button.isEnabled() and other.reopen_button.isVisibleTo(other)
    assert "Option B" in other.accept_button.toolTip()
    assert tab.card(next(i for i, n in names.items() if n == "Whitening")).badge.text() == "Proposed"


def test_a_receptionist_sees_the_plans_and_records_decisions_but_cannot_change_clinical_work(qtbot, staff, patient_id):
    tab = open_tab(qtbot, staff[Role.RECEPTIONIST], patient_id)
    card = only_card(tab)
    assert lines_by_code(card)["RS300"][4] == "$1,250.00"
    card.select_item(line(card, "RS210").id)

    for button in (
        card.earlier_button,
        card.later_button,
        card.phase_button,
        card.fee_button,
        card.complete_button,
        card.remove_button,
        tab.new_plan_button,
        tab.new_alternative_button,
    ):
        assert button.isVisibleTo(tab) and not button.isEnabled(), button.text()
    assert "clinicians" in card.fee_button.toolTip()
    assert card.accept_button.isEnabled() and card.decline_button.isEnabled()
    assert tab.benefits_button.isEnabled()

    tab.set_plan_status(card.plan.id, "declined", reason="wants to think about the cost")
    wait_ops(qtbot)
    card = only_card(tab)
    assert card.badge.text() == f"Declined {TODAY}"
    assert card.reason.text() == "Reason: wants to think about the cost"
    assert card.reopen_button.isEnabled()

    tab.set_plan_status(card.plan.id, "proposed")
    wait_ops(qtbot)
    tab.set_plan_status(only_card(tab).plan.id, "accepted")
    wait_ops(qtbot)
    assert only_card(tab).badge.text() == f"Accepted {TODAY}"


def test_completing_a_line_greys_it_and_shows_the_done_date(qtbot, staff, patient_id):
    tab = open_tab(qtbot, staff[Role.DENTIST], patient_id)
    card = only_card(tab)
    filling = line(card, "RS210")
    card.select_item(filling.id)
    assert card.complete_button.isEnabled() and card.fee_button.isEnabled()

    tab.complete_line(filling.id)
    wait_ops(qtbot)

    card = only_card(tab)
    done = card.tree_item(filling.id)
    assert done.text(3) == f"✔ done {TODAY} · Composite filling, back tooth, two surfaces"
    assert {done.foreground(c).color().name() for c in range(7)} == {DONE_GREY.lower()}
    assert card.badge.text() == "Proposed"
    # the selection survives the reload, and done work can be neither re-quoted nor completed again
    assert card.selected_item() is not None and card.selected_item().id == filling.id  # type: ignore[union-attr]
    assert not card.complete_button.isEnabled() and not card.fee_button.isEnabled()
    (entry,) = [e for e in charting.open_chart(staff[Role.DENTIST], patient_id).entries if e.code == "RS210"]
    assert entry.status == "completed" and entry.provider_name == "Test Dentist"

    tab.complete_line(line(card, "RS300").id)
    wait_ops(qtbot)
    assert only_card(tab).badge.text() == f"Completed {TODAY}"
    assert not only_card(tab).decline_button.isVisibleTo(tab)


def test_lines_are_requoted_and_reordered_and_a_bad_fee_changes_nothing(
    qtbot, staff, patient_id, monkeypatch, message_boxes
):
    tab = open_tab(qtbot, staff[Role.DENTIST], patient_id)
    card = only_card(tab)
    crown = line(card, "RS300")

    tab.change_fee(crown.id, 1_100_00)
    wait_ops(qtbot)
    card = only_card(tab)
    assert lines_by_code(card)["RS300"][4] == "$1,100.00"
    assert "Fee total $1,320.00" in card.totals_text()

    # typed through the button: a fee with three decimals is refused, not rounded
    card.select_item(crown.id)
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("1,250.005", True)))
    card.fee_button.click()
    wait_ops(qtbot)
    assert message_boxes and "more than two decimal places" in message_boxes[-1][1]
    assert lines_by_code(only_card(tab))["RS300"][4] == "$1,100.00"

    tab.move_line(crown.id, 1, 99)
    wait_ops(qtbot)
    card = only_card(tab)
    assert [(r[0], r[2]) for r in card.rows()] == [("Phase 1", ""), ("1", "RS210"), ("2", "RS300")]
    card.select_item(crown.id)
    assert card.earlier_button.isEnabled() and not card.later_button.isEnabled()
    card.earlier_button.click()
    wait_ops(qtbot)
    assert [r[2] for r in only_card(tab).rows()] == ["", "RS300", "RS210"]


def test_a_decision_on_a_plan_changed_elsewhere_is_refused_and_the_tab_shows_it_as_it_is(
    qtbot, staff, patient_id, message_boxes
):
    tab = open_tab(qtbot, staff[Role.RECEPTIONIST], patient_id)
    plan = only_card(tab).plan
    treatment_plans.set_status(staff[Role.DENTIST], plan.id, plan.version, "accepted")

    tab.set_plan_status(plan.id, "declined", reason="cost")
    wait_ops(qtbot)

    assert message_boxes and message_boxes[-1][0] == "warning"
    assert only_card(tab).badge.text() == f"Accepted {TODAY}"


def test_without_insurance_the_patient_pays_the_full_fee(qtbot, staff):
    dentist = staff[Role.DENTIST]
    record = patients.register(dentist, PatientInput("Alan", "Turing", "06/23/1962"))
    charting.add_procedures(dentist, record.id, [NewEntry("RS300", "planned", tooth="11")])
    tab = open_tab(qtbot, dentist, record.id)

    assert tab.insurance_text().startswith("No insurance on file")
    assert lines_by_code(only_card(tab))["RS300"][4:] == ("$1,250.00", "$0.00", "$1,250.00")
    assert "Patient portion $1,250.00" in only_card(tab).totals_text()
    assert not tab.benefits_button.isEnabled()


def test_plans_are_read_when_the_tab_is_shown_and_cleared_without_a_patient(qtbot, staff, patient_id):
    tab = PlansTab(staff[Role.DENTIST])
    qtbot.addWidget(tab)
    tab.set_patient(patient_id)
    wait_ops(qtbot)
    assert tab.plans_view() is None  # hidden: nothing read (each reading is audited)

    tab.show()
    qtbot.waitExposed(tab)
    wait_ops(qtbot)
    assert tab.plans_view() is not None and len(tab.cards()) == 1

    tab.set_patient(None)
    assert tab.plans_view() is None and tab.cards() == []
    assert tab.insurance_text() == "Open a patient to see their treatment plans."
    assert not tab.new_plan_button.isEnabled() and not tab.benefits_button.isEnabled()
