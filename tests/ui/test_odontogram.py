"""The odontogram as a clinician uses it: click teeth and surfaces, switch numbering and dentition, see marks."""

import sys

import pytest
from PySide6.QtCore import QEvent, QPoint, QRectF, Qt
from PySide6.QtGui import QColor, QHelpEvent, QImage
from PySide6.QtWidgets import QApplication, QToolTip

from app.domain.teeth import Dentition, Numbering, display_slot
from app.ui.chart.odontogram import STATUS_COLOURS, ChartMark, Odontogram, legend

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier

DRAW_KEYS = (
    "missing impacted unerupted implant crown abutment pontic bridge root_canal caries filling fracture watch"
    " sealant veneer extraction"
).split() + [""]


@pytest.fixture
def chart(qtbot):  # type: ignore[no-untyped-def]
    w = Odontogram()
    qtbot.addWidget(w)
    w.resize(1100, 420)
    w.show()
    qtbot.waitExposed(w)
    return w


def centre(rect: QRectF) -> QPoint:
    return rect.center().toPoint()


def click(qtbot, chart: Odontogram, rect: QRectF, modifier=Qt.KeyboardModifier.NoModifier) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, modifier, centre(rect))


def near(a: QColor, b: QColor, tolerance: int = 12) -> bool:
    return max(abs(a.red() - b.red()), abs(a.green() - b.green()), abs(a.blue() - b.blue())) <= tolerance


def count_near(image: QImage, rect: QRectF, colour: QColor) -> int:
    r = rect.toRect()
    return sum(
        near(image.pixelColor(x, y), colour) for x in range(r.left(), r.right()) for y in range(r.top(), r.bottom())
    )


def test_ctrl_clicking_surfaces_builds_one_canonical_surface_set(qtbot, chart):  # type: ignore[no-untyped-def]
    changes: list[list] = []
    clicks: list[tuple] = []
    chart.selection_changed.connect(changes.append)
    chart.tooth_clicked.connect(lambda *args: clicks.append(args))

    click(qtbot, chart, chart.surface_rect("36", "O"))
    assert chart.selection() == [("36", "O")]
    click(qtbot, chart, chart.surface_rect("36", "M"), CTRL)
    click(qtbot, chart, chart.surface_rect("36", "D"), CTRL)

    assert chart.selection() == [("36", "MOD")]
    assert changes == [[("36", "O")], [("36", "MO")], [("36", "MOD")]]
    assert [c[:2] for c in clicks] == [("36", "O"), ("36", "M"), ("36", "D")]
    assert clicks[-1][2] & CTRL
    # Ctrl-clicking a chosen surface again drops it; D comes first when M is absent
    click(qtbot, chart, chart.surface_rect("36", "M"), CTRL)
    assert chart.selection() == [("36", "DO")]


def test_surfaces_face_the_right_way_on_each_side_and_arch(chart):  # type: ignore[no-untyped-def]
    # mesial faces the screen midline, buccal faces out of the mouth
    assert chart.surface_rect("16", "M").center().x() > chart.surface_rect("16", "D").center().x()
    assert chart.surface_rect("26", "M").center().x() < chart.surface_rect("26", "D").center().x()
    assert chart.surface_rect("16", "B").center().y() < chart.surface_rect("16", "L").center().y()
    assert chart.surface_rect("46", "B").center().y() > chart.surface_rect("46", "L").center().y()
    # the surface diagrams sit between the silhouettes, near the occlusal plane
    assert chart.tooth_rect("16").bottom() <= chart.surface_rect("16", "B").top()
    assert chart.surface_rect("46", "L").bottom() <= chart.tooth_rect("46").top()


def test_clicking_the_root_selects_the_whole_tooth(qtbot, chart):  # type: ignore[no-untyped-def]
    upper = chart.tooth_rect("16")
    click(qtbot, chart, QRectF(upper.left(), upper.top(), upper.width(), upper.height() / 3))  # roots point up
    assert chart.selection() == [("16", "")]
    lower = chart.tooth_rect("46")
    root = QRectF(lower.left(), lower.bottom() - lower.height() / 3, lower.width(), lower.height() / 3)
    click(qtbot, chart, root)
    assert chart.selection() == [("46", "")]


def test_ctrl_click_adds_and_removes_teeth(qtbot, chart):  # type: ignore[no-untyped-def]
    click(qtbot, chart, chart.tooth_rect("21"))
    click(qtbot, chart, chart.tooth_rect("11"), CTRL)
    assert chart.selection() == [("11", ""), ("21", "")]  # chart order, not click order
    click(qtbot, chart, chart.tooth_rect("21"), CTRL)
    assert chart.selection() == [("11", "")]
    chart.clear_selection()
    assert chart.selection() == []


def test_shift_click_selects_a_range_along_the_row(qtbot, chart):  # type: ignore[no-untyped-def]
    click(qtbot, chart, chart.tooth_rect("44"))
    click(qtbot, chart, chart.tooth_rect("34"), SHIFT)  # across the midline: 44 .. 41, 31 .. 34
    assert [t for t, _ in chart.selection()] == ["44", "43", "42", "41", "31", "32", "33", "34"]
    assert all(s == "" for _, s in chart.selection())


def test_keys_move_the_focus_toggle_and_open(qtbot, chart):  # type: ignore[no-untyped-def]
    opened: list[str] = []
    chart.tooth_double_clicked.connect(opened.append)
    click(qtbot, chart, chart.tooth_rect("11"))
    qtbot.keyClick(chart, Qt.Key.Key_Right)
    assert chart.focused_tooth() == "21"
    qtbot.keyClick(chart, Qt.Key.Key_Space)
    assert chart.selection() == [("11", ""), ("21", "")]
    qtbot.keyClick(chart, Qt.Key.Key_Down)
    assert chart.focused_tooth() == "31"
    qtbot.keyClick(chart, Qt.Key.Key_Return)
    assert opened == ["31"]
    qtbot.keyClick(chart, Qt.Key.Key_Escape)
    assert chart.selection() == []


def test_double_click_asks_to_open_the_tooth(qtbot, chart):  # type: ignore[no-untyped-def]
    opened: list[str] = []
    chart.tooth_double_clicked.connect(opened.append)
    qtbot.mouseDClick(chart, Qt.MouseButton.LeftButton, pos=centre(chart.surface_rect("24", "O")))
    assert opened == ["24"]


def test_numbering_changes_the_painted_numbers_and_tooltips(qtbot, chart):  # type: ignore[no-untyped-def]
    column = display_slot("16")[1]
    assert chart.label_for_column(0, column) == "16"
    chart.set_numbering(Numbering.UNIVERSAL)
    assert chart.label_for_column(0, column) == "3"
    assert chart.tooltip_for("16").startswith("Tooth 3 — upper right first molar")
    chart.set_numbering(Numbering.PALMER)
    assert chart.label_for_column(0, column) == "6┘"

    chart.set_numbering(Numbering.FDI)
    chart.set_marks([ChartMark("16", "MO", "filling", "planned", "Composite, 2 surfaces")])
    pos = centre(chart.tooth_rect("16"))
    QApplication.sendEvent(chart, QHelpEvent(QEvent.Type.ToolTip, pos, chart.mapToGlobal(pos)))
    assert QToolTip.text().splitlines() == [
        "Tooth 16 — upper right first molar",
        "• MO Composite, 2 surfaces (planned)",
    ]
    QToolTip.hideText()


def test_anterior_surfaces_read_incisal_and_facial_in_tooltips(chart):  # type: ignore[no-untyped-def]
    chart.set_marks([ChartMark("11", "MOB", "filling", "existing", "Composite")])
    assert "• MIF Composite (existing)" in chart.tooltip_for("11")


def test_a_planned_filling_paints_its_surface_in_the_planned_colour(chart):  # type: ignore[no-untyped-def]
    # given in the wrong order on purpose: planned work is drawn last, over the existing filling
    chart.set_marks(
        [ChartMark("36", "O", "filling", "planned", "Composite"), ChartMark("36", "OB", "filling", "existing")]
    )
    image = chart.grab().toImage()
    assert image.pixelColor(centre(chart.surface_rect("36", "O"))) == STATUS_COLOURS["planned"]
    assert image.pixelColor(centre(chart.surface_rect("36", "B"))) == STATUS_COLOURS["existing"]
    assert image.pixelColor(centre(chart.surface_rect("36", "M"))) == QColor("#FFFFFF")


def test_a_missing_tooth_is_crossed_out_and_can_still_be_clicked(qtbot, chart):  # type: ignore[no-untyped-def]
    grey = STATUS_COLOURS["condition"]
    rect = chart.tooth_rect("46")
    assert count_near(chart.grab().toImage(), rect, grey) == 0
    chart.set_marks([ChartMark("46", "", "missing", "condition", "Missing")])
    assert count_near(chart.grab().toImage(), rect, grey) > 100
    click(qtbot, chart, rect)  # to chart an implant or a pontic there
    assert chart.selection() == [("46", "")]


def test_mixed_dentition_puts_primary_molars_under_the_premolar_columns(chart):  # type: ignore[no-untyped-def]
    permanent_15, permanent_45 = chart.tooth_rect("15"), chart.tooth_rect("45")
    assert len(chart.teeth()) == 32
    chart.set_dentition(Dentition.MIXED)
    assert len(chart.teeth()) == 24
    assert chart.tooth_rect("15").isNull()  # its primary predecessor stands there
    assert chart.tooth_rect("55").intersects(permanent_15)
    assert chart.column_rect(0, display_slot("15")[1]).contains(chart.tooth_rect("55").center())
    assert chart.tooth_rect("85").intersects(permanent_45)
    assert chart.label_for_column(0, display_slot("55")[1]) == "55"
    chart.set_dentition(Dentition.PRIMARY)
    assert len(chart.teeth()) == 20


def test_a_charted_tooth_outside_the_dentition_still_shows(chart):  # type: ignore[no-untyped-def]
    chart.set_dentition(Dentition.MIXED)
    chart.set_marks([ChartMark("17", "O", "sealant", "planned")])
    assert "17" in chart.teeth()
    assert not chart.tooth_rect("17").isNull()


def test_changing_dentition_drops_teeth_no_longer_shown_from_the_selection(qtbot, chart):  # type: ignore[no-untyped-def]
    click(qtbot, chart, chart.tooth_rect("15"))
    click(qtbot, chart, chart.tooth_rect("16"), CTRL)
    with qtbot.waitSignal(chart.selection_changed) as changed:
        chart.set_dentition(Dentition.MIXED)
    assert changed.args == [[("16", "")]]


def test_every_drawing_key_and_status_paints(chart):  # type: ignore[no-untyped-def]
    statuses = ("condition", "existing", "planned", "completed", "referred")
    shown = chart.teeth()
    marks = [
        ChartMark(shown[i % len(shown)], "MOD" if i % 3 == 0 else "", key, statuses[i % 5], f"C{i}")
        for i, key in enumerate(DRAW_KEYS * 3)
    ]
    chart.set_marks(marks)
    assert not chart.grab().isNull()
    chart.set_dentition(Dentition.MIXED)
    chart.resize(600, 260)
    assert not chart.grab().isNull()


def test_repainting_does_not_leak_references_to_none(chart):  # type: ignore[no-untyped-def]
    # PySide6 6.12.0 on Python < 3.12 lost a reference to None per void call until the interpreter
    # aborted; pyproject keeps that release out, and this catches a regression of the kind
    chart.set_marks([ChartMark(t, "MOD", "filling", "planned") for t in chart.teeth()])
    before = sys.getrefcount(None)
    for _ in range(20):
        chart.set_marks([ChartMark(t, "MOD", "filling", "planned") for t in chart.teeth()])
        chart.grab()
    assert sys.getrefcount(None) >= before - 100


def test_legend_lists_each_status_once_in_distinct_colours():
    entries = legend()
    assert [label for label, _ in entries] == ["Existing", "Planned", "Completed", "Referred", "Condition", "Caries"]
    assert len({c.name() for _, c in entries}) == len(entries)


def test_size_hint_is_chart_shaped(chart):  # type: ignore[no-untyped-def]
    hint = chart.sizeHint()
    assert (hint.width(), hint.height()) == (1100, 420)
