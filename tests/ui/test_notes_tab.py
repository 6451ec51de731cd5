"""Writing, signing and extending clinical notes through the chart's Notes tab, on a real clinic."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from app.domain.patients import PatientInput
from app.domain.permissions import Role
from app.services import charting, clinical_notes, patients
from app.services.charting import NewEntry
from app.ui.chart.notes_tab import NotesTab
from tests.conftest import STAFF_PASSWORD
from tests.ui.conftest import wait_ops


@pytest.fixture
def patient_id(staff) -> str:  # type: ignore[no-untyped-def]
    return patients.register(staff[Role.DENTIST], PatientInput("Grace", "Hopper", "12/09/1956")).id


@pytest.fixture
def filling(staff, patient_id) -> str:  # type: ignore[no-untyped-def]
    """Today's completed two-surface filling on the lower left first molar."""
    chart = charting.add_procedures(
        staff[Role.DENTIST], patient_id, [NewEntry("RS210", "completed", tooth="36", surfaces="MO")]
    )
    return chart.entries[0].id


def open_tab(qtbot, ctx, patient_id: str) -> NotesTab:  # type: ignore[no-untyped-def]
    tab = NotesTab(ctx)
    qtbot.addWidget(tab)
    tab.resize(1200, 760)
    tab.show()
    qtbot.waitExposed(tab)
    tab.set_patient(patient_id)
    wait_ops(qtbot)
    return tab


def rows(tab: NotesTab) -> list[str]:
    """The list's rows, their two lines joined."""
    return [tab.list.item(i).text().replace("\n", " — ") for i in range(tab.list.count())]


def procedure_rows(tab: NotesTab) -> list[tuple[str, bool]]:
    out = []
    for i in range(tab.procedures.count()):
        item = tab.procedures.item(i)
        checkable = bool(item.flags() & Qt.ItemFlag.ItemIsUserCheckable)
        out.append((item.text(), checkable and item.checkState() == Qt.CheckState.Checked))
    return out


def type_after_first_heading(qtbot, tab: NotesTab, text: str) -> None:  # type: ignore[no-untyped-def]
    cursor = tab.body.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.Start)
    cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock)
    tab.body.setTextCursor(cursor)
    qtbot.keyClicks(tab.body, text)


def stored(staff, patient_id: str) -> list[clinical_notes.NoteView]:  # type: ignore[no-untyped-def]
    return clinical_notes.list_notes(staff[Role.DENTIST], patient_id)


def new_restorative_note(qtbot, tab: NotesTab) -> None:  # type: ignore[no-untyped-def]
    tab.template_combo.setCurrentIndex(tab.template_combo.findText("Restorative"))
    qtbot.mouseClick(tab.new_button, Qt.MouseButton.LeftButton)
    wait_ops(qtbot)


def test_a_dentist_writes_signs_and_extends_a_note(qtbot, staff, patient_id, filling, message_boxes):
    tab = open_tab(qtbot, staff[Role.DENTIST], patient_id)
    assert tab.notes() == [] and rows(tab) == []
    assert "No notes for this patient yet" in tab.list_status.text()
    assert tab.template_combo.findText("Restorative") >= 0
    assert not tab.save_button.isEnabled() and not tab.sign_button.isEnabled()

    # a draft from the Restorative template, today's filling already linked
    new_restorative_note(qtbot, tab)
    [note] = tab.notes()
    assert not note.signed and note.title == "Restorative"
    assert tab.title.text() == "Restorative"
    assert "Anaesthetic (agent, amount, site):" in tab.body.toPlainText()
    assert "Post-op instructions:" in tab.body.toPlainText()
    assert [p.chart_entry_id for p in note.procedures] == [filling]
    [(text, checked)] = procedure_rows(tab)
    assert checked and "19 MO" in text and "Composite filling, back tooth, two surfaces" in text  # 36 is 19
    [row] = rows(tab)
    assert row.endswith("— Restorative — Test Dentist — Draft — not signed")
    assert not tab.body.isReadOnly()
    assert tab.save_button.isEnabled() and tab.sign_button.isEnabled() and tab.discard_button.isEnabled()
    assert not tab.addendum_button.isEnabled()
    assert "Draft" in tab.banner.text()

    # edit, then save with Ctrl+S
    type_after_first_heading(qtbot, tab, " no changes")
    assert tab.has_unsaved_changes()
    qtbot.keyClick(tab.body, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    wait_ops(qtbot)
    assert not tab.has_unsaved_changes()
    assert "Draft saved" in tab.message.text()
    [saved] = stored(staff, patient_id)
    assert "Medical history reviewed: no changes" in saved.body and not saved.signed

    # a wrong password: warned, still a draft, the text typed since the save kept (and saved)
    type_after_first_heading(qtbot, tab, "; allergies none")
    tab.sign_current("not-my-password")
    wait_ops(qtbot)
    assert message_boxes[-1] == ("warning", "Wrong password.")
    assert "Medical history reviewed: no changes; allergies none" in tab.body.toPlainText()
    assert not tab.body.isReadOnly() and tab.sign_button.isEnabled()
    [draft] = stored(staff, patient_id)
    assert not draft.signed and "allergies none" in draft.body

    # the right password signs it: read-only from now on
    tab.sign_current(STAFF_PASSWORD)
    wait_ops(qtbot)
    [signed] = stored(staff, patient_id)
    assert signed.signed and signed.signed_at is not None
    assert f"Signed by Test Dentist on {tab.when(signed.signed_at)}" in tab.banner.text()
    assert "can no longer be changed" in tab.banner.text()
    assert tab.body.isReadOnly() and tab.title.isReadOnly()
    assert not tab.save_button.isEnabled() and not tab.sign_button.isEnabled()
    assert not tab.discard_button.isEnabled() and tab.addendum_button.isEnabled()
    assert rows(tab)[0].endswith("— Test Dentist — ✔ Signed")
    [(text, checked)] = procedure_rows(tab)
    assert "19 MO" in text and not checked  # still listed, no longer tickable

    # an addendum with the wrong password is refused and its text kept for another try
    tab.add_addendum("Patient phoned: no sensitivity.", "wrong")
    wait_ops(qtbot)
    assert message_boxes[-1] == ("warning", "Wrong password.")
    assert tab.has_unsaved_changes()  # the addendum not yet added
    assert not tab.addenda_box.isVisibleTo(tab)

    tab.add_addendum("Patient phoned: no sensitivity.", STAFF_PASSWORD)
    wait_ops(qtbot)
    [extended] = stored(staff, patient_id)
    [addendum] = extended.addenda
    assert addendum.author_name == "Test Dentist"
    shown = tab.addenda.toPlainText()
    assert f"Addendum — Test Dentist — {tab.when(addendum.signed_at)}" in shown
    assert "Patient phoned: no sensitivity." in shown
    assert tab.addenda_box.isVisibleTo(tab) and not tab.has_unsaved_changes()
    assert rows(tab)[0].endswith("✔ Signed · 1 addendum")
    assert message_boxes.count(("warning", "Wrong password.")) == 2


def test_a_hygienist_reads_the_dentists_draft_without_changing_it(qtbot, staff, patient_id, filling):
    clinical_notes.create_note(
        staff[Role.DENTIST],
        patient_id,
        title="Restorative",
        template_id=clinical_notes.shipped_template_id("restorative"),
        procedure_ids=[filling],
    )
    tab = open_tab(qtbot, staff[Role.HYGIENIST], patient_id)
    [note] = tab.notes()
    assert tab.current_note() == note
    assert tab.body.isReadOnly() and tab.title.isReadOnly() and tab.visit_date.isReadOnly()
    assert "Only Test Dentist can edit, sign or discard it" in tab.banner.text()
    for button in (tab.save_button, tab.sign_button, tab.discard_button, tab.addendum_button):
        assert not button.isEnabled()
    assert tab.new_button.isEnabled()  # a note of their own is fine
    [(text, checked)] = procedure_rows(tab)
    assert "Composite filling" in text and not checked  # listed, not tickable

    qtbot.keyClicks(tab.body, "hygienist was here")
    tab.save_draft()  # refused by the tab itself: nothing to wait for
    wait_ops(qtbot)
    assert not tab.has_unsaved_changes()
    assert "hygienist was here" not in stored(staff, patient_id)[0].body


def test_an_edit_made_elsewhere_keeps_the_typed_text_and_discarding_needs_no_signature(
    qtbot, staff, patient_id, filling, message_boxes
):
    dentist = staff[Role.DENTIST]
    first = open_tab(qtbot, dentist, patient_id)
    new_restorative_note(qtbot, first)
    second = open_tab(qtbot, dentist, patient_id)  # the same draft open at another workstation tab
    assert second.current_note() == first.current_note()

    type_after_first_heading(qtbot, first, " reviewed in the surgery")
    type_after_first_heading(qtbot, second, " reviewed at the desk")
    second.save_draft()
    wait_ops(qtbot)  # and the first tab's reload on hearing of it

    # what is typed in the first tab is kept, and its save is refused as stale
    assert "reviewed in the surgery" in first.body.toPlainText()
    assert "changed elsewhere" in first.message.text()
    first.save_draft()
    wait_ops(qtbot)
    kind, text = message_boxes[-1]
    assert kind == "warning" and "This note" in text
    assert "reviewed in the surgery" in first.body.toPlainText() and first.has_unsaved_changes()
    assert "reviewed at the desk" in stored(staff, patient_id)[0].body

    # the second tab discards the draft (the question is answered Discard in tests)
    second.discard_draft()
    wait_ops(qtbot)
    assert second.notes() == [] and rows(second) == []
    assert stored(staff, patient_id) == []
    assert "Draft discarded" in second.message.text()
