"""The perio chart widget, driven by keystrokes and clicks as a hygienist would (offscreen)."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QWidget

from app.domain import teeth
from app.domain.perio import DEFAULT_PATH, PROBING_PATHS, SITES, PerioExam, furcation_path, probing_path, tooth_path
from app.domain.teeth import Numbering, ToothKind
from app.ui.chart.perio_chart import END_OF_CHART, EntryMode, PerioChart

MISSING = ("18", "28", "38", "48")
SEGMENTS = PROBING_PATHS[DEFAULT_PATH][1]
DB, B, MB, DL, L, ML = range(6)


@pytest.fixture
def chart(qtbot):  # type: ignore[no-untyped-def]
    w = PerioChart()
    qtbot.addWidget(w)
    w.resize(1400, w.sizeHint().height())
    w.set_exam(PerioExam.blank(missing=MISSING))
    w.show()
    qtbot.waitExposed(w)
    w.setFocus()
    return w


def recorder(signal) -> list:  # type: ignore[no-untyped-def]
    seen: list = []
    signal.connect(lambda *args: seen.append(args))
    return seen


def snapshot(chart: PerioChart) -> str:
    return chart.exam().to_json()


# --- depth entry -------------------------------------------------------------------------------


def test_typing_a_full_exam_fills_every_present_site_once_in_path_order(qtbot, chart: PerioChart) -> None:
    path = probing_path(chart.exam(), SEGMENTS)
    assert len(path) == 28 * 6  # the four third molars are missing
    assert chart.cursor() == path[0]
    edits, moves = recorder(chart.exam_edited), recorder(chart.cursor_moved)

    qtbot.keyClicks(chart, "".join(str(2 + k % 3) for k in range(len(path))))

    exam = chart.exam()
    for k, (tooth, i) in enumerate(path):
        assert exam.teeth[tooth].depth[i] == 2 + k % 3, (k, tooth, SITES[i])
    present = {(t, i) for t in exam.present_teeth() for i in range(6)}
    assert set(path) == present
    for t in MISSING:
        assert exam.teeth[t].depth == [None] * 6
    # one reading per key, and the cursor walked the path exactly, stopping on its last site
    assert len(edits) == len(path)
    assert moves == path[1:]
    assert chart.cursor() == path[-1]
    assert chart.message_text() == END_OF_CHART


def test_a_reading_at_the_end_of_the_path_does_not_run_past(qtbot, chart: PerioChart) -> None:
    last = probing_path(chart.exam(), SEGMENTS)[-1]
    chart.set_cursor(*last)
    qtbot.keyClicks(chart, "34")
    assert chart.cursor() == last
    assert chart.exam().teeth[last[0]].depth[last[1]] == 4
    assert chart.message_text() == END_OF_CHART


def test_plus_then_a_digit_enters_ten_and_more(qtbot, chart: PerioChart) -> None:
    first, second = probing_path(chart.exam(), SEGMENTS)[:2]
    qtbot.keyClicks(chart, "+")
    assert chart.cell_text("depth", *first) == "1_"  # the pending ten shows in the cursor cell
    assert chart.cursor() == first
    qtbot.keyClicks(chart, "2")
    assert chart.exam().teeth[first[0]].depth[first[1]] == 12
    assert chart.cursor() == second

    # a second "+" cancels the pending ten, and so does Escape
    qtbot.keyClicks(chart, "++3")
    assert chart.exam().teeth[second[0]].depth[second[1]] == 3
    third = chart.cursor()
    qtbot.keyClicks(chart, "+")
    qtbot.keyClick(chart, Qt.Key.Key_Escape)
    assert chart.cell_text("depth", *third) == ""
    qtbot.keyClicks(chart, "4")
    assert chart.exam().teeth[third[0]].depth[third[1]] == 4


def test_bleeding_suppuration_and_plaque_mark_the_highlighted_site_without_advancing(qtbot, chart: PerioChart) -> None:
    chart.set_cursor("16", MB)
    qtbot.keyClicks(chart, "BSP")
    r = chart.exam().teeth["16"]
    assert (r.bleeding[MB], r.suppuration[MB], r.plaque[MB]) == (True, True, True)
    assert chart.cursor() == ("16", MB)
    qtbot.keyClicks(chart, "b")  # toggles, lower case too
    assert r.bleeding[MB] is False
    assert sum(r.bleeding + r.suppuration + r.plaque) == 2


def test_backspace_goes_back_one_site_without_erasing(qtbot, chart: PerioChart) -> None:
    first, second, third = probing_path(chart.exam(), SEGMENTS)[:3]
    qtbot.keyClicks(chart, "34")
    assert chart.cursor() == third
    qtbot.keyClick(chart, Qt.Key.Key_Backspace)
    assert chart.cursor() == second
    assert chart.exam().teeth[second[0]].depth[second[1]] == 4
    qtbot.keyClicks(chart, "6")  # typing again overwrites
    assert chart.exam().teeth[second[0]].depth[second[1]] == 6
    assert chart.cursor() == third


def test_space_skips_arrows_move_and_delete_clears(qtbot, chart: PerioChart) -> None:
    first, second, third = probing_path(chart.exam(), SEGMENTS)[:3]
    qtbot.keyClicks(chart, " 5")
    assert chart.exam().teeth[first[0]].depth[first[1]] is None
    assert chart.exam().teeth[second[0]].depth[second[1]] == 5
    qtbot.keyClick(chart, Qt.Key.Key_Left)
    assert chart.cursor() == second
    qtbot.keyClick(chart, Qt.Key.Key_Delete)
    assert chart.exam().teeth[second[0]].depth[second[1]] is None
    assert chart.cursor() == second
    qtbot.keyClick(chart, Qt.Key.Key_Right)
    assert chart.cursor() == third


def test_up_and_down_jump_to_the_other_side_and_across_the_arches(qtbot, chart: PerioChart) -> None:
    chart.set_cursor("16", DB)
    qtbot.keyClick(chart, Qt.Key.Key_Up)  # nothing above the upper facial row
    assert chart.cursor() == ("16", DB)
    qtbot.keyClick(chart, Qt.Key.Key_Down)
    assert chart.cursor() == ("16", DL)
    qtbot.keyClick(chart, Qt.Key.Key_Down)
    assert chart.cursor() == ("46", DL)
    qtbot.keyClick(chart, Qt.Key.Key_Down)
    assert chart.cursor() == ("46", DB)
    qtbot.keyClick(chart, Qt.Key.Key_Up)
    assert chart.cursor() == ("46", DL)


def test_the_footer_summary_follows_the_readings(qtbot, chart: PerioChart) -> None:
    assert chart.summary_text() == "Sites ≥4 mm: 0 · ≥5 mm: 0 · Bleeding: – · Plaque: 0.0%"
    qtbot.keyClicks(chart, "5")
    assert chart.summary_text() == "Sites ≥4 mm: 1 · ≥5 mm: 1 · Bleeding: 0.0% · Plaque: 0.0%"
    qtbot.keyClick(chart, Qt.Key.Key_Backspace)
    qtbot.keyClicks(chart, "B")
    assert chart.summary_text() == "Sites ≥4 mm: 1 · ≥5 mm: 1 · Bleeding: 100.0% · Plaque: 0.0%"


# --- margin, mobility and furcation -------------------------------------------------------------


def test_margin_mode_enters_negative_and_two_digit_margins_and_cal_follows(qtbot, chart: PerioChart) -> None:
    chart.set_cursor("16", DB)
    qtbot.keyClicks(chart, "5")
    chart.set_mode(EntryMode.MARGIN)
    assert chart.cursor() == probing_path(chart.exam(), SEGMENTS)[0]
    chart.set_cursor("16", DB)
    qtbot.keyClicks(chart, "-")
    assert chart.cell_text("margin", "16", DB) == "-_"
    qtbot.keyClicks(chart, "2")
    r = chart.exam().teeth["16"]
    assert r.margin[DB] == -2
    assert chart.cell_text("cal", "16", DB) == "3"  # PD 5 under 2 mm of enlargement
    assert chart.cursor() == ("16", B)
    qtbot.keyClicks(chart, "+3")
    assert r.margin[B] == 13
    assert r.depth[B] is None  # margin mode leaves the depths alone
    qtbot.keyClicks(chart, "-+9")  # -19 mm is not possible: refused, no advance
    assert r.margin[MB] is None
    assert chart.cursor() == ("16", MB)
    assert "Gingival margin -19" in chart.message_text()


def test_mobility_mode_visits_each_tooth_and_refuses_four(qtbot, chart: PerioChart) -> None:
    refused = recorder(chart.reading_refused)
    chart.set_mode(EntryMode.MOBILITY)
    order = tooth_path(chart.exam(), SEGMENTS)
    assert chart.cursor() == (order[0], -1)
    qtbot.keyClicks(chart, "0123")
    assert [chart.exam().teeth[t].mobility for t in order[:4]] == [0, 1, 2, 3]
    assert chart.cursor() == (order[4], -1)

    qtbot.keyClicks(chart, "4")
    assert chart.exam().teeth[order[4]].mobility is None
    assert chart.cursor() == (order[4], -1)
    assert len(refused) == 1 and "Mobility 4" in refused[0][0]
    assert chart.message_text() == refused[0][0]  # shown in the footer ...
    qtbot.keyClicks(chart, "1")
    assert chart.message_text() == ""  # ... until the next accepted key
    assert chart.exam().teeth[order[4]].mobility == 1


def test_furcation_mode_grades_furcation_sites_and_never_visits_incisors(qtbot, chart: PerioChart) -> None:
    chart.set_mode(EntryMode.FURCATION)
    visited = furcation_path(chart.exam(), SEGMENTS)
    assert all(teeth.kind(t) in (ToothKind.MOLAR, ToothKind.PREMOLAR) for t, _ in visited)
    assert chart.cursor() == (visited[0][0], SITES.index(visited[0][1]))

    chart.set_cursor("16", B)
    qtbot.keyClicks(chart, "2")
    assert chart.exam().teeth["16"].furcation == {"B": 2}
    assert chart.cell_text("furcation", "16", B) == "2"
    after = visited[visited.index(("16", "B")) + 1]
    assert chart.cursor() == (after[0], SITES.index(after[1]))

    chart.set_cursor("16", B)
    qtbot.keyClicks(chart, "4")
    assert chart.exam().teeth["16"].furcation == {"B": 2}
    assert chart.cursor() == ("16", B)
    assert "Furcation grade 4" in chart.message_text()
    qtbot.keyClicks(chart, "0")  # 0 clears
    assert chart.exam().teeth["16"].furcation == {}

    assert chart.cursor() == (after[0], SITES.index(after[1]))
    chart.set_cursor("11", B)  # not a furcation site: the cursor stays put
    assert chart.cursor() == (after[0], SITES.index(after[1]))


def test_ctrl_digits_switch_the_entry_mode(qtbot, chart: PerioChart) -> None:
    modes = recorder(chart.mode_changed)
    qtbot.keyClick(chart, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert chart.mode() == EntryMode.MOBILITY
    qtbot.keyClick(chart, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert chart.mode() == EntryMode.DEPTH
    assert modes == [("mobility",), ("depth",)]


# --- teeth -------------------------------------------------------------------------------------


def test_x_marks_the_cursor_tooth_missing_and_the_path_skips_it(qtbot, chart: PerioChart) -> None:
    chart.set_cursor("16", B)
    qtbot.keyClicks(chart, "4")
    chart.set_cursor("16", B)
    qtbot.keyClicks(chart, "X")
    exam = chart.exam()
    assert exam.teeth["16"].missing
    assert exam.teeth["16"].depth == [None] * 6
    path = probing_path(exam, SEGMENTS)
    assert all(t != "16" for t, _ in path)
    assert chart.cursor() == ("15", DB)  # the next present tooth
    chart.set_cursor("17", MB)
    qtbot.keyClicks(chart, "2")
    assert chart.cursor() == ("15", DB)

    # a click parks the cursor on a missing tooth, and X brings it back
    qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, pos=chart.site_rect("16", B).center().toPoint())
    assert chart.cursor() == ("16", B)
    qtbot.keyClicks(chart, "5")  # no readings on a missing tooth
    assert "missing" in chart.message_text()
    qtbot.keyClicks(chart, "X")
    assert not exam.teeth["16"].missing
    qtbot.keyClicks(chart, "5")
    assert exam.teeth["16"].depth[B] == 5
    assert chart.cursor() == ("16", MB)


def test_i_toggles_an_implant_which_has_no_furcations(qtbot, chart: PerioChart) -> None:
    chart.set_cursor("36", B)
    qtbot.keyClicks(chart, "I")
    assert chart.exam().teeth["36"].implant
    chart.set_mode(EntryMode.FURCATION)
    assert all(t != "36" for t, _ in furcation_path(chart.exam(), SEGMENTS))
    chart.set_cursor("36", B)
    assert chart.cursor()[0] != "36"


# --- mouse, read-only, numbering, painting ---------------------------------------------------------


def test_clicking_a_site_moves_the_cursor_there(qtbot, chart: PerioChart) -> None:
    for tooth, i in (("24", ML), ("47", DB), ("31", L)):
        qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, pos=chart.site_rect(tooth, i).center().toPoint())
        assert chart.cursor() == (tooth, i)
    chart.set_mode(EntryMode.MARGIN)
    qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, pos=chart.site_rect("13", MB).center().toPoint())
    assert chart.cursor() == ("13", MB)
    qtbot.keyClicks(chart, "1")
    assert chart.exam().teeth["13"].margin[MB] == 1


def test_a_completed_exam_is_read_only_but_the_cursor_moves(qtbot, chart: PerioChart) -> None:
    exam = PerioExam.blank(missing=MISSING)
    exam.set_depth("17", DB, 4)
    chart.set_exam(exam, read_only=True)
    before = snapshot(chart)
    refused, edits = recorder(chart.reading_refused), recorder(chart.exam_edited)
    qtbot.keyClicks(chart, "5+2BSPXI")
    qtbot.keyClick(chart, Qt.Key.Key_Delete)
    chart.set_mode(EntryMode.MOBILITY)
    qtbot.keyClicks(chart, "2")
    assert snapshot(chart) == before
    assert edits == [] and refused
    chart.set_mode(EntryMode.DEPTH)
    qtbot.keyClicks(chart, " ")
    assert chart.cursor() == probing_path(exam, SEGMENTS)[1]


def test_numbering_changes_the_tooth_labels(chart: PerioChart) -> None:
    assert chart.cell_text("tooth", "18") == "18"
    chart.set_numbering(Numbering.UNIVERSAL)
    assert chart.cell_text("tooth", "18") == "1"
    assert chart.cell_text("tooth", "38") == "17"


def test_a_keystroke_repaints_only_the_columns_it_touches(qtbot, chart: PerioChart, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    qtbot.wait(10)
    painted: list[str] = []
    real = PerioChart._paint_tooth
    monkeypatch.setattr(PerioChart, "_paint_tooth", lambda self, p, t: (painted.append(t), real(self, p, t)))
    chart.set_cursor("14", MB)  # the last site of 14 on the upper facial pass: the next is 13 DB
    qtbot.wait(10)
    painted.clear()
    qtbot.keyClicks(chart, "3")
    qtbot.waitUntil(lambda: bool(painted))
    qtbot.wait(10)
    assert sorted(set(painted)) == ["13", "14"]


def test_comparison_markers_and_a_busy_chart_paint(chart: PerioChart) -> None:
    earlier = PerioExam.blank(missing=MISSING)
    exam = chart.exam()
    for t in exam.present_teeth():
        for i in range(6):
            earlier.set_depth(t, i, 3)
            exam.set_depth(t, i, 5 + i % 2)
            exam.set_margin(t, i, i - 2)
            exam.set_flag("bleeding", t, i, i % 2 == 0)
        exam.set_mobility(t, 1)
    exam.set_furcation("16", "B", 2)
    exam.set_implant("36", True)
    chart.set_comparison({(t, "DB") for t in exam.present_teeth()}, earlier)
    chart.set_numbering(Numbering.PALMER)
    for mode in EntryMode:
        chart.set_mode(mode)
        chart.repaint()
    chart.set_exam(exam, read_only=True)
    image = chart.grab().toImage()
    assert image.width() == chart.width()
    # the read-only banner fills the header
    assert image.pixelColor(4, 4).name() == "#ffe0b2"


def test_multi_character_key_text_is_not_read_as_a_two_digit_reading(chart: PerioChart) -> None:
    event = QKeyEvent(QKeyEvent.Type.KeyPress, Qt.Key.Key_unknown, Qt.KeyboardModifier.NoModifier, "12")
    chart.keyPressEvent(event)
    first = probing_path(chart.exam(), SEGMENTS)[0]
    assert chart.exam().teeth[first[0]].depth[first[1]] is None


def test_the_charts_keys_win_over_window_shortcuts(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = QWidget()
    qtbot.addWidget(window)
    fired: list[str] = []
    for key in ("Delete", "B", "5"):
        action = QAction(key, window)
        action.setShortcut(QKeySequence(key))
        action.triggered.connect(lambda _=False, k=key: fired.append(k))
        window.addAction(action)
    chart = PerioChart(window)
    chart.set_exam(PerioExam.blank(missing=MISSING))
    window.resize(1400, 760)
    window.show()
    qtbot.waitExposed(window)
    chart.setFocus()
    qtbot.waitUntil(chart.hasFocus)
    first = chart.cursor()
    qtbot.keyClicks(chart, "B5")
    qtbot.keyClick(chart, Qt.Key.Key_Backspace)
    qtbot.keyClick(chart, Qt.Key.Key_Delete)
    assert fired == []
    r = chart.exam().teeth[first[0]]
    assert r.bleeding[first[1]] is True and r.depth[first[1]] is None
