"""Admin → Backups: choosing the workstation and folder of the nightly backup, and a backup now."""

from pathlib import Path

from PySide6.QtCore import Qt

from app.domain.permissions import Role
from app.services import backup, backup_schedule
from tests.ui.conftest import make_window, wait_ops


def _backups_panel(qtbot, ctx):  # type: ignore[no-untyped-def]
    window = make_window(qtbot, ctx)
    window.go_to("admin")
    page = window.pages.currentWidget()
    page.tabs.setCurrentWidget(page.backups)
    return page.backups


def test_an_administrator_chooses_the_nightly_backup_here_to_a_folder_and_backs_up_now(
    qtbot, staff, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    admin = staff[Role.ADMINISTRATOR]
    panel = _backups_panel(qtbot, admin)
    assert "none yet" in panel.last.text()
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
