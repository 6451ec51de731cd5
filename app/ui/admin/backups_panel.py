"""Admin → Backups: which workstation takes the clinic's nightly backup, where to (the cloud
when connected, and a folder), and a backup now."""

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import UserError
from app.services import backup_schedule, cloud
from app.services.backup_schedule import Outcome
from app.services.context import Ctx
from app.ui.errors import show_error
from app.ui.ops import run_op
from app.ui.shell.sync_status import local_time
from sync.protocol import instant

OK, FAILED = "#1B5E20", "#B3261E"


class BackupsPanel(QWidget):
    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        runtime = ctx.runtime
        self.here = QCheckBox("Take the clinic's nightly backup on this workstation (02:30)")
        self.here.setObjectName("nightlyHere")
        self.taken_by = QLabel()
        self.taken_by.setObjectName("nightlyTakenBy")
        self._show_choice()
        self.folder = QLineEdit(str(backup_schedule.backup_folder(runtime) or ""))
        self.folder.setObjectName("nightlyFolder")
        self.folder.setReadOnly(True)
        self.folder.setPlaceholderText("No folder: the clinic's cloud only")
        choose = QPushButton("Choose folder…")
        choose.clicked.connect(self._choose)
        clear = QPushButton("No folder")
        clear.clicked.connect(self.folder.clear)
        folder_row = QHBoxLayout()
        folder_row.addWidget(QLabel("Also to a folder (USB disk, NAS):"))
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(choose)
        folder_row.addWidget(clear)
        note = QLabel(
            "Encrypted on this workstation, to the clinic's cloud when it is connected and to the folder if one "
            "is set; 7 daily, 4 weekly and 12 monthly backups are kept. One workstation of the clinic takes it: "
            "choosing this one stops the one before once the choice has synced to it. A night missed (Chairside "
            "closed, or a backup that failed) is made up a few minutes after Chairside starts."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #5F6B73;")
        self.last = QLabel()
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("nightlySave")
        self.save_button.clicked.connect(self.save)
        self.now_button = QPushButton("Back up now")
        self.now_button.setObjectName("backupNow")
        self.now_button.clicked.connect(self.back_up_now)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(200)
        self.busy.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.now_button)
        buttons.addWidget(self.busy)
        buttons.addStretch()
        self.message = QLabel()
        self.message.setObjectName("nightlyMessage")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        box = QGroupBox("Nightly backup")
        inside = QVBoxLayout(box)
        inside.addWidget(self.here)
        inside.addWidget(self.taken_by)
        inside.addLayout(folder_row)
        inside.addWidget(note)
        inside.addWidget(self.last)
        inside.addLayout(buttons)
        inside.addWidget(self.message)
        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addStretch()
        self._show_last()

    def _show_choice(self) -> None:
        runtime = self.ctx.runtime
        chosen = backup_schedule.nightly_workstation(runtime)
        self.here_before = backup_schedule.runs_here(runtime)
        self.here.setChecked(self.here_before)
        if chosen == runtime.workstation_id:
            text = "This workstation takes the clinic's nightly backup."
        elif chosen:
            text = f"Another workstation of the clinic takes the nightly backup (workstation {chosen[:8]})."
        elif chosen == backup_schedule.NOBODY:
            text = "No workstation takes the clinic's nightly backup: choose one."
        else:
            text = "Not chosen yet: the workstation that sends reminders takes it."
        self.taken_by.setText(text)

    def _show_last(self) -> None:
        value = cloud.read_settings(self.ctx.runtime, backup_schedule.LAST_RUN_SETTING).get(
            backup_schedule.LAST_RUN_SETTING
        )
        when = instant(value)
        self.last.setText(f"Last complete backup from this workstation: {local_time(when) if when else 'none yet'}")

    def _choose(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Folder for the nightly backup", self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def say(self, text: str, ok: bool) -> None:
        self.message.setStyleSheet(f"color: {OK if ok else FAILED};")
        self.message.setText(escape(text))

    def save(self) -> None:
        # the box as it was shown leaves the clinic's choice alone (only the folder changed)
        here = self.here.isChecked() if self.here.isChecked() != self.here_before else None
        folder = Path(self.folder.text()) if self.folder.text() else None
        run_op(lambda: backup_schedule.configure(self.ctx, here=here, folder=folder), self._saved, self._failed)

    def _saved(self, _result: None) -> None:
        self._show_choice()
        if backup_schedule.runs_here(self.ctx.runtime) and not backup_schedule.scheduled(self.ctx.runtime):
            self.say("Saved. Backups start here the next time Chairside starts on this workstation.", True)
        else:
            self.say("Saved. It applies from tonight's backup.", True)

    def back_up_now(self) -> None:
        if not cloud.read_settings(self.ctx.runtime, cloud.URL) and not backup_schedule.backup_folder(self.ctx.runtime):
            self.say("Choose a folder (and save) or connect this workstation to the cloud first.", False)
            return
        self.now_button.setEnabled(False)
        self.busy.show()
        self.say("Backing up…", True)
        run_op(lambda: backup_schedule.run_nightly(self.ctx.runtime), self._backed_up, self._failed)

    def _backed_up(self, outcomes: list[Outcome]) -> None:
        self.now_button.setEnabled(True)
        self.busy.hide()
        # each destination in its own colour: one can fail while the other worked
        self.message.setStyleSheet("")
        self.message.setText(
            "".join(
                f'<div style="color: {OK}">{escape(f"Backed up to {o.destination} ({o.backup_id}).")}</div>'
                if o.error is None
                else f'<div style="color: {FAILED}">{escape(f"The backup to {o.destination} failed: {o.error}")}</div>'
                for o in outcomes
            )
        )
        self._show_last()

    def _failed(self, error: Exception) -> None:
        self.now_button.setEnabled(True)
        self.busy.hide()
        if isinstance(error, UserError):  # not allowed, or a folder that is not there
            self.say(str(error), False)
            return
        show_error(self, error)
