"""The recall list on the Schedule screen and a patient's Messages tab, as the front desk uses them."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from sqlalchemy import select, update

from app.db.models import Appointment, AuditEvent, OutboxMessage
from app.domain.dates import format_date
from app.domain.permissions import Role
from app.services import recalls
from app.ui.schedule.dialogs import NextAvailableDialog
from app.ui.schedule.recall_dialog import RecallListDialog
from tests.integration.scheduling_fixtures import (
    EVERY_DAY,
    add_appointment_type,
    add_patient,
    add_recall,
    add_recall_type,
    make_book,
)
from tests.ui.conftest import make_window, wait_ops


@pytest.fixture
def desk(qtbot, staff, monkeypatch):
    """The receptionist's window and recall list: Ben overdue, Cal (phone only) and Ada due soon."""
    admin = staff[Role.ADMINISTRATOR]
    make_book(admin, hours=[(d, "08:00", "17:00") for d in EVERY_DAY])
    hygiene = add_appointment_type(admin, "Hygiene visit", 60)
    hyg = add_recall_type(admin, "HYG", 6, hygiene)
    sms = {"mobile_phone": "(212) 555-0142", "consent_sms": True, "preferred_contact": "sms"}
    ids = {
        "Ada": add_patient(admin, "Ada", "Testcase", **sms),
        "Ben": add_patient(admin, "Ben", "Testcase", **sms),
        "Cal": add_patient(admin, "Cal", "Testcase", home_phone="(212) 555-0100"),
    }
    today = recalls.clinic_today(admin)
    due = {"Ben": today - timedelta(days=20), "Cal": today + timedelta(days=3), "Ada": today + timedelta(days=10)}
    recall_ids = {name: add_recall(admin, ids[name], hyg, day) for name, day in due.items()}
    window = make_window(qtbot, staff[Role.RECEPTIONIST])
    window.resize(1500, 1000)
    window.go_to("schedule")
    wait_ops(qtbot)

    opened: list[RecallListDialog] = []
    # offscreen a modal would hang: keep the dialog the button made and drive it directly
    monkeypatch.setattr(RecallListDialog, "exec", lambda self: opened.append(self) or 0)
    button = window.schedule.findChild(QPushButton, "recalls")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    wait_ops(qtbot)
    [dialog] = opened
    qtbot.addWidget(dialog)
    return window, dialog, ids, recall_ids, due, hygiene


def cell(model, row: int, column: int) -> str:
    return model.data(model.index(row, column))


def shown(dialog: RecallListDialog, column: int = 0) -> list[str]:
    return [cell(dialog.model, i, column) for i in range(dialog.model.rowCount())]


def filter_by(qtbot, dialog: RecallListDialog, label: str) -> list[str]:
    dialog.state.setCurrentIndex(dialog.state.findText(label))
    wait_ops(qtbot)
    return [name.split(", ")[1] for name in shown(dialog)]


def choose(dialog: RecallListDialog, first_name: str) -> None:
    dialog.table.selectRow(next(i for i, r in enumerate(dialog.model.rows) if r.patient_name.endswith(first_name)))


def click(qtbot, button: QPushButton) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    wait_ops(qtbot)


def outbox_rows(runtime) -> list[OutboxMessage]:
    with runtime.sessions() as s:
        return list(s.scalars(select(OutboxMessage)))


def viewed(runtime) -> int:
    with runtime.sessions() as s:
        return len(s.scalars(select(AuditEvent).where(AuditEvent.action == "patient.messages_viewed")).all())


def test_the_recall_list_shows_due_and_overdue_recalls_under_their_filters(qtbot, desk):
    window, dialog, _ids, _recall_ids, due, _hygiene = desk
    order = window.ctx.runtime.info.date_order
    assert filter_by(qtbot, dialog, "All") == ["Ben", "Cal", "Ada"]
    assert shown(dialog, 2) == [format_date(due[n], order) for n in ("Ben", "Cal", "Ada")]
    assert shown(dialog, 3) == ["Overdue", "Due", "Due"]
    assert shown(dialog, 5) == ["SMS: (212) 555-0142", "Phone: (212) 555-0100", "SMS: (212) 555-0142"]
    assert filter_by(qtbot, dialog, "Due") == ["Cal", "Ada"]
    assert filter_by(qtbot, dialog, "Overdue") == ["Ben"]
    assert filter_by(qtbot, dialog, "Contacted") == []
    assert dialog.count.text() == "0 recalls"


def test_send_reminder_queues_one_message_marks_contacted_and_shows_on_the_patients_messages_tab(
    qtbot, desk, runtime, message_boxes
):
    window, dialog, ids, _recall_ids, _due, _hygiene = desk
    filter_by(qtbot, dialog, "Due")
    choose(dialog, "Ada")
    click(qtbot, dialog.send_button)
    [m] = outbox_rows(runtime)
    assert (m.patient_id, m.channel, m.recipient, m.queue, m.status) == (
        ids["Ada"],
        "sms",
        "+12125550142",
        "standard",
        "pending",
    )
    assert "Reminder queued for Testcase, Ada" in dialog.message.text()
    assert filter_by(qtbot, dialog, "Due") == ["Cal"]
    assert filter_by(qtbot, dialog, "Contacted") == ["Ada"]
    assert message_boxes == []

    window.open_patient(ids["Ada"])
    wait_ops(qtbot)
    form = window.patients.form
    assert form.tabs.tabText(4) == "Messages"
    # reading a patient's messages is audited, so they are read only once the tab is shown
    assert viewed(runtime) == 0
    form.tabs.setCurrentWidget(form.messages)
    wait_ops(qtbot)
    tab = form.messages
    assert tab.model.rowCount() == 1 and viewed(runtime) == 1
    channel, to, status, sent = (cell(tab.model, 0, c) for c in (1, 2, 4, 5))
    assert (channel, to, status, sent) == ("SMS", "+12125550142", "pending", "")
    assert cell(tab.model, 0, 3).startswith("Hi Ada, you are due for a visit")

    # a new patient has no messages to show
    window.patients.new_patient()
    wait_ops(qtbot)
    assert tab.model.rowCount() == 0


def test_a_failed_message_shows_its_error_and_can_be_retried(qtbot, desk, runtime):
    window, _dialog, ids, recall_ids, _due, _hygiene = desk
    recalls.send_recall_notice(window.ctx, recall_ids["Ben"])
    with runtime.sessions() as s:
        s.execute(update(OutboxMessage).values(status="failed", attempts=5, last_error="gateway: number unreachable"))
        s.commit()
    window.open_patient(ids["Ben"])
    wait_ops(qtbot)
    form = window.patients.form
    form.tabs.setCurrentWidget(form.messages)
    wait_ops(qtbot)
    tab = form.messages
    assert (cell(tab.model, 0, 4), cell(tab.model, 0, 6)) == ("failed · 5 attempts", "gateway: number unreachable")
    assert not tab.retry_button.isEnabled()
    tab.table.selectRow(0)
    assert tab.retry_button.isEnabled()
    click(qtbot, tab.retry_button)
    [m] = outbox_rows(runtime)
    assert (m.status, m.attempts, m.last_error) == ("pending", 0, "")
    assert cell(tab.model, 0, 4) == "pending" and cell(tab.model, 0, 6) == ""


def test_a_patient_without_consent_gets_the_clear_message_and_can_be_marked_contacted(
    qtbot, desk, runtime, message_boxes
):
    _window, dialog, _ids, _recall_ids, _due, _hygiene = desk
    choose(dialog, "Cal")
    click(qtbot, dialog.send_button)
    assert dialog.message.text() == "No consent to SMS or email: call the patient instead."
    assert outbox_rows(runtime) == [] and message_boxes == []
    # the desk phones Cal instead and notes it
    click(qtbot, dialog.contacted_button)
    assert "Testcase, Cal is marked contacted" in dialog.message.text()
    assert filter_by(qtbot, dialog, "Contacted") == ["Cal"]


def test_book_opens_next_available_with_the_patient_and_visit_preset_and_books_them(qtbot, desk, runtime, monkeypatch):
    _window, dialog, ids, _recall_ids, due, hygiene = desk
    seen: list[NextAvailableDialog] = []

    def answer(slots: NextAvailableDialog) -> int:  # the receptionist finds slots and books the first
        seen.append(slots)
        slots.find()
        wait_ops(qtbot)
        slots.book_selected()
        wait_ops(qtbot)
        return slots.result()

    monkeypatch.setattr(NextAvailableDialog, "exec", answer)
    choose(dialog, "Ada")
    click(qtbot, dialog.book_button)
    [slots] = seen
    assert slots.patient == (ids["Ada"], "Testcase, Ada")
    assert slots.type.currentData().id == hygiene and slots.length.value() == 60
    assert slots.first.date().toPython() == due["Ada"]  # not before the recall is due
    assert slots.booked is not None and slots.booked.patient_id == ids["Ada"]
    assert dialog.message.text() == "Booked Testcase, Ada."
    with runtime.sessions() as s:
        [appt] = s.scalars(select(Appointment).where(Appointment.patient_id == ids["Ada"]))
    assert (appt.id, appt.appointment_type_id) == (slots.booked.id, hygiene)
    assert slots.booked.starts_at.astimezone(ZoneInfo(slots.booked.time_zone)).date() >= due["Ada"]
