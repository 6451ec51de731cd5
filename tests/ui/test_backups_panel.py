"""Admin → Backups: choosing the workstation and folder of the nightly backup, and a backup now."""

from pathlib import Path

from PySide6.QtCore import Qt

from app.domain.permissions import Role
from app.services import backup, backup_schedule
from tests.ui.conftest import make_window, wait_ops


def _backups_panel(qtbot, ctx):  # type: ignore[no-untyped-def]
    window = make_window(qtbot, ctx)
    window.go_to("admin")
    page = window.admin
    page.tabs.setCurrentWidget(page.backups)
    return page.backups


def test_an_administrator_chooses_the_nightly_backup_here_to_a_folder_and_backs_up_now(
    qtbot, staff, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    admin = staff[Role.ADMINISTRATOR]
    panel = _backups_panel(qtbot, admin)
    assert "none yet" in panel.last.text()
    assert panel.taken_by.text() == "Not chosen yet: the workstation that sends reminders takes it."
    qtbot.mouseClick(panel.now_button, Qt.MouseButton.LeftButton)
    assert "Choose a folder" in panel.message.text()  # nowhere to back up to yet

    nas = tmp_path / "nas"
    nas.mkdir()
    panel.here.setChecked(True)
    panel.folder.setText(str(nas))
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    wait_ops(qtbot)
    assert "Saved" in panel.message.text()
    assert backup_schedule.runs_here(admin.runtime) and backup_schedule.backup_folder(admin.runtime) == nas
    assert panel.taken_by.text() == "This workstation takes the clinic's nightly backup."

    qtbot.mouseClick(panel.now_button, Qt.MouseButton.LeftButton)
    assert not panel.now_button.isEnabled() and panel.busy.isVisibleTo(panel)  # off the GUI thread
    qtbot.waitUntil(panel.now_button.isEnabled, timeout=30_000)
    wait_ops(qtbot)

    [made] = backup.FolderStore(nas).list_backups()
    assert f"Backed up to folder {nas} ({made})." in panel.message.text() and "#1B5E20" in panel.message.text()
    assert "none yet" not in panel.last.text()


def test_a_folder_that_is_not_there_is_refused_in_words(qtbot, staff, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    admin = staff[Role.ADMINISTRATOR]
    panel = _backups_panel(qtbot, admin)
    panel.folder.setText(str(tmp_path / "unplugged"))
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    wait_ops(qtbot)
    assert "does not exist or is not reachable" in panel.message.text()
    assert backup_schedule.backup_folder(admin.runtime) is None


def test_saving_only_a_folder_leaves_another_workstations_choice_alone(qtbot, staff, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    admin = staff[Role.ADMINISTRATOR]
    other = "0b6f4b1e-5b1c-4c52-9d1e-000000000001"
    with admin.runtime.engine.begin() as conn:  # as a choice made on another workstation arrives by sync
        conn.exec_driver_sql("UPDATE clinic SET nightly_backup_by = ?", (other,))
    panel = _backups_panel(qtbot, admin)
    assert not panel.here.isChecked()
    assert panel.taken_by.text() == "Another workstation of the clinic takes the nightly backup (workstation 0b6f4b1e)."

    usb = tmp_path / "usb"
    usb.mkdir()
    panel.folder.setText(str(usb))
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    wait_ops(qtbot)

    assert backup_schedule.nightly_workstation(admin.runtime) == other
    assert backup_schedule.backup_folder(admin.runtime) == usb
