"""The Schedule set-up tab: an administrator sets a provider's week and adds an appointment type."""

from PySide6.QtWidgets import QDialog

from app.domain.permissions import Role
from app.services import schedule_setup as setup
from app.services.schedule_setup import LocationInput
from app.ui.admin.schedule_setup_panel import AppointmentTypeDialog, ScheduleSetupPanel
from tests.ui.conftest import make_window, wait_ops


def _panel(qtbot, staff) -> ScheduleSetupPanel:  # type: ignore[no-untyped-def]
    admin = staff[Role.ADMINISTRATOR]
    setup.save_location(admin, LocationInput("Main St", "America/New_York"))
    window = make_window(qtbot, admin)
    window.go_to("admin")
    page = window.admin
    page.tabs.setCurrentWidget(page.schedule_setup)
    panel = page.schedule_setup
    panel.refresh()
    wait_ops(qtbot)
    return panel


def test_an_administrator_sets_a_providers_week_with_two_shifts(qtbot, staff) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(qtbot, staff)
    panel.sections.setCurrentIndex(1)
    dentist = next(p for p in panel.snapshot.providers if p.role is Role.DENTIST)
    panel.provider_picker.setCurrentIndex(panel.provider_picker.findData(dentist.id))
    wait_ops(qtbot)
    hours = panel.hours
    assert all(c.isChecked() for c in hours.closed)  # no hours yet: every day closed
    for day in range(5):
        hours.closed[day].setChecked(False)
        for col, text in enumerate(("08:00", "12:00", "13:00", "17:00")):
            hours.fields[day][col].setText(text)
    panel.save_hours()
    wait_ops(qtbot)
    assert "Saved" in panel.hours_message.text()
    loc = panel.location()
    assert loc is not None
    saved = setup.provider_hours(staff[Role.ADMINISTRATOR], loc.id, dentist.id)
    assert [s.label for s in saved[:2]] == ["Monday 08:00–12:00", "Monday 13:00–17:00"]
    assert len(saved) == 10

    # a shift that ends before it starts is refused beside the table, and the old week kept
    hours.fields[0][1].setText("07:00")
    panel.save_hours()
    wait_ops(qtbot)
    assert "must end after it starts" in panel.hours_message.text()
    assert hours.fields[0][1].text() == "07:00"  # what was typed stays to be corrected
    assert len(setup.provider_hours(staff[Role.ADMINISTRATOR], loc.id, dentist.id)) == 10


def test_an_administrator_adds_an_appointment_type(qtbot, staff, message_boxes) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(qtbot, staff)
    panel.sections.setCurrentIndex(3)
    panel.add_type()
    dialog = panel.dialog
    assert isinstance(dialog, AppointmentTypeDialog) and dialog.isVisible()
    dialog.name.setText("Whitening")
    dialog.minutes.setValue(47)  # the spin box steps by 5 but takes a typed 47
    dialog.colour.setText("teal")
    dialog._try_accept()
    assert dialog.isVisible()  # refused: the reasons show in the dialog, nothing saved
    assert "#RRGGBB" in dialog.message.text() and "steps of 5" in dialog.message.text()
    assert setup.list_appointment_types(staff[Role.ADMINISTRATOR]) == []
    dialog.colour.setText("#00897b")
    dialog.minutes.setValue(45)
    dialog.procedures.setText("d9972, D9975")
    dialog._try_accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    wait_ops(qtbot)
    assert message_boxes == []
    types = setup.list_appointment_types(staff[Role.ADMINISTRATOR])
    assert [(t.name, t.default_minutes, t.colour, t.default_procedures) for t in types] == [
        ("Whitening", 45, "#00897B", ("D9972", "D9975"))
    ]
    assert panel.types.rowCount() == 1
    assert panel.types.item(0, 2).background().color().name().upper() == "#00897B"


def test_the_tab_is_only_for_those_who_set_up_the_book(qtbot, staff) -> None:  # type: ignore[no-untyped-def]
    window = make_window(qtbot, staff[Role.ADMINISTRATOR])
    window.go_to("admin")
    page = window.admin
    assert "Schedule set-up" in [page.tabs.tabText(i) for i in range(page.tabs.count())]
    receptionist = make_window(qtbot, staff[Role.RECEPTIONIST])
    labels = [receptionist.nav.item(i).text() for i in range(receptionist.nav.count())]
    assert "Admin" not in labels


def test_blocks_exceptions_and_chairs_are_added_through_the_panel(qtbot, staff) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(qtbot, staff)
    panel.sections.setCurrentIndex(2)
    panel.add_block()
    block = panel.dialog
    block.kind.setCurrentIndex(block.kind.findData("lunch"))
    block.weekly.setChecked(True)
    block.weekday.setCurrentIndex(2)
    block.start.setText("12:30")
    block.end.setText("12:00")
    block._try_accept()
    assert "end after it starts" in block.message.text()
    block.end.setText("13:30")
    block._try_accept()
    wait_ops(qtbot)
    assert [panel.blocks.item(0, c).text() for c in range(3)] == ["Lunch", "Everyone", "Every Wednesday 12:30–13:30"]

    panel.add_exception()
    exception = panel.dialog
    exception.note.setText("Public holiday")
    exception._try_accept()
    wait_ops(qtbot)
    assert panel.exceptions.rowCount() == 1 and panel.exceptions.item(0, 2).text() == "Closed"

    panel.sections.setCurrentIndex(0)
    location = panel.location()
    assert location is not None
    setup.add_operatory(staff[Role.ADMINISTRATOR], location.id, "Op 1")
    panel.refresh()
    wait_ops(qtbot)
    assert panel.chairs.count() == 1 and panel.chairs.item(0).text() == "Op 1"
