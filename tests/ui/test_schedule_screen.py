"""The appointment book as the front desk uses it: book, drag, resize, status menu, next available."""

from datetime import timedelta

import pytest
from PySide6.QtCore import QDate, QPoint, Qt
from sqlalchemy import select

from app.db.models import Appointment
from app.domain.permissions import Role
from app.domain.scheduling import VisitStatus
from app.services import scheduling
from app.ui.schedule.dialogs import BookingDialog, NextAvailableDialog
from tests.integration.scheduling_fixtures import FUTURE_MONDAY, add_patient, make_book
from tests.ui.conftest import make_window, wait_ops


@pytest.fixture
def desk(qtbot, staff):
    """The receptionist's window on the schedule, at a Monday with two dentists and three chairs."""
    admin = staff[Role.ADMINISTRATOR]
    book = make_book(admin, chairs=3, providers=2)
    patients = {name: add_patient(admin, name, "Testcase") for name in ("Ada", "Ben", "Cy")}
    window = make_window(qtbot, staff[Role.RECEPTIONIST])
    window.resize(1500, 1000)
    window.go_to("schedule")
    page = window.schedule
    wait_ops(qtbot)
    page.go_to_day(FUTURE_MONDAY)
    wait_ops(qtbot)
    return page, book, patients, staff


def stored(runtime, appointment_id):
    with runtime.sessions() as s:
        return s.scalar(select(Appointment).where(Appointment.id == appointment_id))


def book_via_service(staff, book, patient_id, start, end, chair=0, provider=0):
    return scheduling.book(
        staff[Role.RECEPTIONIST], book.request(patient_id, FUTURE_MONDAY, start, end, chair=chair, provider=provider)
    )


def point_at(view, when, column_index):
    x = view.column_width() * column_index + 80
    return QPoint(int(x), int(view.y_for(when) + 3))


def test_double_click_on_a_free_slot_books_through_the_dialog(qtbot, desk, monkeypatch, runtime):
    page, book, patients, _staff = desk
    view = page.day_view
    assert [c.name for c in view.columns()] == ["Op 1", "Op 2", "Op 3"]

    def answer(dialog):  # the receptionist picks the patient and presses Book
        dialog.choose_patient(patients["Ada"], "Testcase, Ada")
        dialog.length.setValue(40)
        dialog._try_accept()
        return dialog.result()

    monkeypatch.setattr(BookingDialog, "exec", answer)
    qtbot.mouseDClick(view, Qt.MouseButton.LeftButton, pos=point_at(view, book.at(FUTURE_MONDAY, "09:00"), 1))
    wait_ops(qtbot)
    [appt] = page.book.appointments
    assert appt.patient_name == "Testcase, Ada"
    assert book.local(appt.starts_at).strftime("%H:%M") == "09:00" and appt.minutes == 40
    assert appt.operatory_id == book.chair_ids[1]
    assert "Booked" in page.message.text()


def test_drag_moves_an_appointment_and_dropping_on_a_clash_is_refused(qtbot, desk, runtime):
    page, book, patients, staff = desk
    ada = book_via_service(staff, book, patients["Ada"], "09:00", "09:30", chair=0)
    book_via_service(staff, book, patients["Ben"], "11:00", "11:30", chair=1, provider=1)
    page.reload()
    wait_ops(qtbot)
    view = page.day_view
    start = view.rect_for(next(a for a in page.book.appointments if a.id == ada.id)).center().toPoint()
    # one hour further down the same column: the grip point moves with the mouse
    hour = view.y_for(book.at(FUTURE_MONDAY, "10:00")) - view.y_for(book.at(FUTURE_MONDAY, "09:00"))
    target = start + QPoint(0, int(hour))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, target)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=target)
    wait_ops(qtbot)
    moved = stored(runtime, ada.id)
    assert book.local(moved.starts_at).strftime("%H:%M") == "10:00"
    assert moved.ends_at - moved.starts_at == timedelta(minutes=30)

    # onto chair 2 at Ben's time: the chair is taken, so nothing changes and the desk is told why
    before = (moved.starts_at, moved.operatory_id)
    page.reload()
    wait_ops(qtbot)
    start = view.rect_for(next(a for a in page.book.appointments if a.id == ada.id)).center().toPoint()
    clash = point_at(view, book.at(FUTURE_MONDAY, "11:00"), 1)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, clash)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=clash)
    wait_ops(qtbot)
    assert (stored(runtime, ada.id).starts_at, stored(runtime, ada.id).operatory_id) == before
    assert "not free" in page.message.text() or "taken" in page.message.text()


def test_dragging_the_lower_edge_changes_the_length(qtbot, desk, runtime):
    page, book, patients, staff = desk
    ada = book_via_service(staff, book, patients["Ada"], "09:00", "09:30")
    page.reload()
    wait_ops(qtbot)
    view = page.day_view
    rect = view.rect_for(page.book.appointments[0])
    edge = QPoint(int(rect.center().x()), int(rect.bottom() - 2))
    target = QPoint(edge.x(), int(view.y_for(book.at(FUTURE_MONDAY, "10:00"))))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=edge)
    qtbot.mouseMove(view, target)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=target)
    wait_ops(qtbot)
    resized = stored(runtime, ada.id)
    assert book.local(resized.starts_at).strftime("%H:%M") == "09:00"
    assert resized.ends_at - resized.starts_at == timedelta(minutes=60)


def test_status_menu_offers_only_allowed_steps_and_applies_them(qtbot, desk, runtime):
    page, book, patients, staff = desk
    ada = book_via_service(staff, book, patients["Ada"], "09:00", "09:30")
    page.reload()
    wait_ops(qtbot)
    menu = page.day_view.status_menu(page.book.appointments[0])
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert actions["Confirm"].isEnabled() and not actions["Complete"].isEnabled()
    actions["Confirm"].trigger()
    wait_ops(qtbot)
    assert stored(runtime, ada.id).status == VisitStatus.CONFIRMED.value
    page.reload()
    wait_ops(qtbot)
    menu = page.day_view.status_menu(page.book.appointments[0])
    {a.text(): a for a in menu.actions()}["Move to pinboard"].trigger()
    wait_ops(qtbot)
    assert stored(runtime, ada.id).on_pinboard
    assert page.pinboard.count() == 1 and "Ada" in page.pinboard.item(0).text()


def test_next_available_dialog_books_the_chosen_slot(qtbot, desk, runtime):
    page, book, patients, _staff = desk
    dialog = NextAvailableDialog(
        page.ctx,
        location_id=book.location_id,
        providers=list(page.book.providers),
        operatories=list(page.book.operatories),
        types=page.types,
        patient=(patients["Cy"], "Testcase, Cy"),
    )
    qtbot.addWidget(dialog)
    dialog.length.setValue(30)
    dialog.first.setDate(QDate(FUTURE_MONDAY.year, FUTURE_MONDAY.month, FUTURE_MONDAY.day))
    dialog.last.setDate(QDate(FUTURE_MONDAY.year, FUTURE_MONDAY.month, FUTURE_MONDAY.day + 4))
    dialog.mornings.setChecked(True)
    dialog.find()
    wait_ops(qtbot)
    assert dialog.results.count() > 0
    assert "Mon 3 Mar 08:00" in dialog.results.item(0).text()
    dialog.book_selected()
    wait_ops(qtbot)
    assert dialog.booked is not None
    assert book.local(dialog.booked.starts_at).strftime("%a %H:%M") == "Mon 08:00"


def test_a_change_by_another_user_appears_in_an_open_book(qtbot, desk):
    page, book, patients, staff = desk
    assert page.book.appointments == ()
    page._check_stamp()
    wait_ops(qtbot)
    scheduling.book(staff[Role.DENTIST], book.request(patients["Ben"], FUTURE_MONDAY, "14:00", "14:30"))
    qtbot.waitUntil(lambda: len(page.book.appointments) == 1, timeout=3000)
    assert page.book.appointments[0].patient_name == "Testcase, Ben"


def test_bookable_hours_are_white_and_the_rest_grey_by_chair_and_by_provider(qtbot, desk):
    page, _book, _patients, _staff = desk
    view = page.day_view
    for by in ("operatory", "provider"):
        view.set_book(view.book, by)
        image = view.grab().toImage()
        first = min(iv.start for ivs in view.book.available.values() for iv in ivs)
        x = int(view.column_width() * 1.5) + 56  # the middle of the second column
        inside = image.pixelColor(x, int(view.y_for(first + timedelta(minutes=60)) + 10))
        before = image.pixelColor(x, int(view.y_for(first) - 10))  # the row before anyone works
        assert inside.name() == "#ffffff", by
        assert before.name() == "#eceff1", by
