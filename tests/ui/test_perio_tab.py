"""The Perio tab: start an exam, type it, autosave, complete (locked), compare, staging help."""

from datetime import timedelta

import pytest

from app.domain.patients import PatientInput
from app.domain.perio import SITES, PerioExam
from app.domain.permissions import Role
from app.services import patients, perio
from app.ui.chart.perio_tab import PerioTab
from tests.conftest import clinic_today
from tests.ui.conftest import wait_ops


@pytest.fixture
def hygienist(staff):  # type: ignore[no-untyped-def]
    return staff[Role.HYGIENIST]


@pytest.fixture
def patient_id(hygienist) -> str:  # type: ignore[no-untyped-def]
    return patients.register(hygienist, PatientInput("Ada", "Lovelace", "12/10/1965")).id


def make_tab(qtbot, ctx, patient_id):  # type: ignore[no-untyped-def]
    tab = PerioTab(ctx)
    qtbot.addWidget(tab)
    tab.resize(1600, 900)
    tab.show()
    tab.set_patient(patient_id)
    wait_ops(qtbot)
    return tab


def test_a_typed_exam_is_saved_and_comes_back(qtbot, hygienist, patient_id):
    tab = make_tab(qtbot, hygienist, patient_id)
    tab.start_exam()
    wait_ops(qtbot)
    assert tab.record is not None and not tab.record.completed
    tab.chart.setFocus()
    qtbot.keyClicks(tab.chart, "345")
    assert tab.save_state.text() == "Unsaved changes…"
    tab.save_now()
    wait_ops(qtbot)
    assert tab.save_state.text() == "All changes saved"
    saved = perio.get_exam(hygienist, tab.record.id).exam
    assert saved.teeth["18"].depth[:3] == [3, 4, 5]  # s-curve: 18 DB, B, MB first


def test_completing_locks_the_exam(qtbot, hygienist, patient_id):
    tab = make_tab(qtbot, hygienist, patient_id)
    tab.start_exam()
    wait_ops(qtbot)
    tab.chart.setFocus()
    qtbot.keyClicks(tab.chart, "23")
    tab.complete_exam()
    wait_ops(qtbot)
    assert tab.record is not None and tab.record.completed
    assert tab.chart.is_read_only()
    assert "locked" in tab.save_state.text()
    assert not tab.complete_button.isEnabled()
    # the unsaved keystrokes were saved before completing
    assert perio.get_exam(hygienist, tab.record.id).exam.teeth["18"].depth[:2] == [2, 3]


def completed_exam(ctx, patient_id, day, depth):  # type: ignore[no-untyped-def]
    record = perio.start_exam(ctx, patient_id, exam_date=day)
    exam = PerioExam.blank()
    for t in exam.present_teeth():
        for i in range(len(SITES)):
            exam.set_depth(t, i, depth(t, i))
    version = perio.save_exam(ctx, record.id, record.version, exam)
    return perio.complete_exam(ctx, record.id, version)


def test_the_latest_exam_is_compared_with_the_one_before(qtbot, hygienist, patient_id):
    today = clinic_today()
    completed_exam(hygienist, patient_id, today - timedelta(days=400), lambda t, i: 3)
    completed_exam(hygienist, patient_id, today, lambda t, i: 6 if t == "36" and i < 3 else 3)
    tab = make_tab(qtbot, hygienist, patient_id)
    wait_ops(qtbot)
    assert tab.compare_with.count() == 2  # "(no comparison)" and the earlier exam
    assert "3 sites worse by 2 mm or more" in tab.findings.text()
    tab.suggest_staging()
    wait_ops(qtbot)
    assert "Suggestion only" in tab.findings.text()


def test_a_dentist_sees_another_providers_completed_exam_read_only(qtbot, staff, hygienist, patient_id):
    completed_exam(hygienist, patient_id, clinic_today(), lambda t, i: 2)
    tab = make_tab(qtbot, staff[Role.DENTIST], patient_id)
    assert tab.chart.is_read_only()
    assert not tab.discard_button.isEnabled()


def test_readings_typed_just_before_closing_are_saved(qtbot, hygienist, patient_id):
    tab = make_tab(qtbot, hygienist, patient_id)
    tab.start_exam()
    wait_ops(qtbot)
    tab.chart.setFocus()
    qtbot.keyClicks(tab.chart, "4")
    tab.flush()  # what the main window does when it closes or signs out
    assert perio.get_exam(hygienist, tab.record.id).exam.teeth["18"].depth[0] == 4
