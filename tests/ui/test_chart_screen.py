"""The Chart screen as a dentist and a receptionist use it: header, tooth chart, history."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from app.domain.patients import AlertInput, PatientInput
from app.domain.permissions import Role
from app.services import patients
from app.ui.chart.odontogram import STATUS_COLOURS
from tests.ui.conftest import make_window, wait_ops


def register(ctx) -> str:  # type: ignore[no-untyped-def]
    return patients.register(
        ctx, PatientInput("Grace", "Hopper", "12/09/1956", alerts=(AlertInput("allergy", "Latex", True),))
    ).id


def open_chart(qtbot, ctx, clinician=None):  # type: ignore[no-untyped-def]
    pid = register(clinician or ctx)
    window = make_window(qtbot, ctx)
    window.open_chart(pid)
    wait_ops(qtbot)
    return window, window.chart


def click_surface(qtbot, chart, tooth: str, surface: str, ctrl: bool = False) -> None:  # type: ignore[no-untyped-def]
    centre = chart.surface_rect(tooth, surface).center().toPoint()
    modifier = Qt.KeyboardModifier.ControlModifier if ctrl else Qt.KeyboardModifier.NoModifier
    qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, modifier, centre)


def test_the_chart_header_shows_the_patient_and_the_medical_alerts(qtbot, staff):
    window, page = open_chart(qtbot, staff[Role.DENTIST])
    assert page.title.text() == "Grace Hopper"
    assert "Latex" in page.alerts.text() and page.alerts.isVisible()
    assert [page.tabs.tabText(i) for i in range(page.tabs.count())] == [
        "Tooth chart",
        "Treatment plans",
        "Perio",
        "Notes",
    ]


def test_picking_surfaces_and_a_procedure_updates_chart_history_and_plan(qtbot, staff):
    window, page = open_chart(qtbot, staff[Role.DENTIST])
    tab = page.tooth_tab
    chart = tab.chart
    chart.resize(1200, 460)
    click_surface(qtbot, chart, "36", "M")
    click_surface(qtbot, chart, "36", "O", ctrl=True)
    click_surface(qtbot, chart, "36", "D", ctrl=True)
    assert chart.selection() == [("36", "MOD")]
    assert "19 MOD" in tab.selection_label.text()
    tab.add_procedure("RS220", "planned")
    wait_ops(qtbot)
    history = [(r.code, r.tooth, r.surfaces, r.status) for r in tab.model.rows]
    assert history == [("RS220", "36", "MOD", "planned")]
    assert tab.model.data(tab.model.index(0, 1)) == "19 MOD"
    # the occlusal surface of 36 is painted in the planned colour
    image = chart.grab().toImage()
    centre = chart.surface_rect("36", "O").center().toPoint()
    assert QColor(image.pixel(centre)).red() > 150
    assert QColor(image.pixel(centre)) != QColor(STATUS_COLOURS["existing"])
    # and the plan tab lists it
    page.plans_tab.reload()
    wait_ops(qtbot)
    (plan,) = page.plans_tab.plans_view().plans
    assert [i.code for i in plan.items] == ["RS220"]


def test_completing_from_history_records_the_provider_and_today(qtbot, staff):
    window, page = open_chart(qtbot, staff[Role.DENTIST])
    tab = page.tooth_tab
    tab.chart.resize(1200, 460)
    qtbot.mouseClick(tab.chart, Qt.MouseButton.LeftButton, pos=tab.chart.tooth_rect("11").center().toPoint())
    tab.add_procedure("RS300", "planned")
    wait_ops(qtbot)
    tab.table.selectRow(0)
    assert tab.complete_button.isEnabled()
    tab.complete_selected()
    wait_ops(qtbot)
    (row,) = tab.model.rows
    assert (row.status, row.provider_name) == ("completed", "Test Dentist")


def test_a_finding_needs_a_tooth_and_is_drawn(qtbot, staff, message_boxes):
    window, page = open_chart(qtbot, staff[Role.HYGIENIST])
    tab = page.tooth_tab
    tab.add_condition("fracture")
    assert message_boxes and "Select a tooth first" in message_boxes[-1][1]
    tab.chart.resize(1200, 460)
    qtbot.mouseClick(tab.chart, Qt.MouseButton.LeftButton, pos=tab.chart.tooth_rect("21").center().toPoint())
    tab.add_condition("fracture")
    wait_ops(qtbot)
    assert [(r.description, r.tooth, r.status) for r in tab.model.rows] == [("Fracture", "21", "condition")]


def test_a_receptionist_sees_only_the_treatment_plans(qtbot, staff):
    window, page = open_chart(qtbot, staff[Role.RECEPTIONIST], staff[Role.DENTIST])
    assert page.tooth_tab is None and page.perio_tab is None and page.notes_tab is None
    assert [page.tabs.tabText(i) for i in range(page.tabs.count())] == ["Treatment plans"]
    assert page.title.text() == "Grace Hopper"


def test_a_young_childs_chart_opens_on_the_primary_teeth(qtbot, staff):
    from datetime import date

    from app.domain.teeth import Dentition

    dentist = staff[Role.DENTIST]
    born = date(date.today().year - 4, 1, 15).strftime("%m/%d/%Y")
    child = patients.register(dentist, PatientInput("Tom", "Thumb", born)).id
    window = make_window(qtbot, dentist)
    window.open_chart(child)
    wait_ops(qtbot)
    tab = window.chart.tooth_tab
    assert tab.dentition.currentData() == Dentition.PRIMARY
    assert "55" in tab.chart.teeth() and "16" not in tab.chart.teeth()
