"""The Patients screen: find on the left, the open record on the right."""

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import ValidationError
from app.domain.permissions import Scope
from app.services import patients
from app.services.context import Ctx
from app.services.patients import PatientRecord
from app.ui.errors import show_error
from app.ui.icons import icon
from app.ui.ops import bus, run_op
from app.ui.patients.form import PatientForm
from app.ui.patients.search import PatientSearchPanel


class PatientPickerDialog(QDialog):
    """Pick another patient (the guarantor) by searching, as on the Patients screen."""

    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose the guarantor")
        self.resize(620, 440)
        self.chosen: tuple[str, str] | None = None
        self.search = PatientSearchPanel(ctx)
        self.search.patient_chosen.connect(self._choose)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Find the family member who is responsible for the account:"))
        layout.addWidget(self.search)
        layout.addWidget(buttons)

    def _choose(self, patient_id: str) -> None:
        row = next(r for r in self.search.model.rows if r.id == patient_id)
        self.chosen = (row.id, f"{row.first_name} {row.last_name}")
        self.accept()


class PatientsPage(QWidget):
    chart_requested = Signal(str)

    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert ctx.actor is not None
        self.ctx = ctx
        scopes = ctx.actor.scopes
        info = ctx.runtime.info
        self.record: PatientRecord | None = None

        self.search = PatientSearchPanel(ctx)
        self.search.patient_chosen.connect(self.open_patient)
        self.new_button = QPushButton(icon("add"), "New patient")
        self.new_button.setObjectName("newPatient")
        self.new_button.setToolTip("Register a new patient (Ctrl+N)")
        self.new_button.clicked.connect(self.new_patient)
        self.new_button.setEnabled(Scope.PATIENTS_WRITE in scopes)
        left = QWidget()
        ll = QVBoxLayout(left)
        header = QHBoxLayout()
        title = QLabel("Patients")
        title.setStyleSheet("font-size: 20px; font-weight: 600;")
        header.addWidget(title)
        header.addStretch()
        header.addWidget(self.new_button)
        ll.addLayout(header)
        ll.addWidget(self.search, 1)

        self.form = PatientForm(info.date_order, info.phone_region, Scope.MEDICAL_WRITE in scopes, ctx=ctx)
        self.form.choose_guarantor.connect(self._pick_guarantor)
        self.message = QLabel()
        self.message.setObjectName("formMessage")
        self.message.setWordWrap(True)
        self.save_button = QPushButton(icon("save"), "Save")
        self.save_button.setObjectName("savePatient")
        self.save_button.setToolTip("Save (Ctrl+S)")
        self.save_button.setEnabled(Scope.PATIENTS_WRITE in scopes)
        self.save_button.clicked.connect(self.save)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(self.revert)
        self.archive_button = QPushButton(icon("archive"), "Archive…")
        self.archive_button.setObjectName("archivePatient")
        self.archive_button.clicked.connect(self.toggle_archive)
        self._can_archive = Scope.PATIENTS_ARCHIVE in scopes
        self.chart_button = QPushButton(icon("chart"), "Chart")
        self.chart_button.setObjectName("openChart")
        self.chart_button.setToolTip("Open this patient's chart, treatment plans, perio and notes")
        self.chart_button.clicked.connect(lambda: self.record and self.chart_requested.emit(self.record.id))
        self._can_chart = bool({Scope.CHART_READ, Scope.PLANS_READ} & scopes)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(self.chart_button)
        buttons.addWidget(self.archive_button)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.addWidget(self.form, 1)
        rl.addLayout(buttons)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([460, 900])
        layout = QHBoxLayout(self)
        layout.addWidget(splitter)

        QShortcut(QKeySequence.StandardKey.Save, self, activated=self.save)
        QShortcut(QKeySequence.StandardKey.New, self, activated=self.new_patient)
        self._loaded = self.form.snapshot()
        self._update_buttons()
        bus.changes_applied.connect(self._on_changes)

    # --- state ---------------------------------------------------------------------------
    def has_unsaved_changes(self) -> bool:
        return self.form.snapshot() != self._loaded

    def focus_search(self) -> None:
        self.search.query.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.query.selectAll()

    def _update_buttons(self) -> None:
        archived = self.record is not None and self.record.archived_at is not None
        self.archive_button.setText("Unarchive" if archived else "Archive…")
        self.archive_button.setEnabled(self.record is not None and self._can_archive)
        self.revert_button.setEnabled(self.record is not None)
        self.chart_button.setEnabled(self.record is not None and self._can_chart)

    def _say(self, text: str, ok: bool) -> None:
        self.message.setStyleSheet(f"color: {'#1B5E20' if ok else '#B3261E'};")
        self.message.setText(text)

    def confirm_discard(self) -> bool:
        """True when there is nothing unsaved, or the user agrees to drop it."""
        if not self.has_unsaved_changes():
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            "The open patient record has unsaved changes. Discard them?",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Discard

    def _show(self, record: PatientRecord | None) -> None:
        self.record = record
        if record is None:
            self.form.clear()
        else:
            self.form.load(record)
        # read when its tab is shown: for a new patient (after saving, too) and on every open
        self.form.messages.set_patient(record.id if record else None)
        self._loaded = self.form.snapshot()
        self._update_buttons()

    # --- actions -------------------------------------------------------------------------
    def new_patient(self) -> None:
        if not self.new_button.isEnabled() or not self.confirm_discard():
            return
        self._show(None)
        self._say("", True)
        self.form.fields["first_name"].setFocus()

    def open_patient(self, patient_id: str) -> None:
        if self.record is not None and self.record.id == patient_id:
            return
        if not self.confirm_discard():
            return
        run_op(lambda: patients.open_record(self.ctx, patient_id), self._opened, self._failed)

    def _opened(self, record: PatientRecord) -> None:
        self._show(record)
        self._say("", True)

    def revert(self) -> None:
        if self.record is None:
            return
        record_id = self.record.id
        self.record = None  # so open_patient reloads it
        self._loaded = self.form.snapshot()
        run_op(lambda: patients.open_record(self.ctx, record_id), self._opened, self._failed)

    def save(self) -> None:
        if not self.save_button.isEnabled():
            return
        data = self.form.snapshot()
        record = self.record
        if record is None:

            def call() -> PatientRecord:
                return patients.register(self.ctx, data)
        else:

            def call() -> PatientRecord:
                return patients.update(self.ctx, record.id, record.version, data)

        self.save_button.setEnabled(False)
        run_op(call, self._saved, self._failed, changes=frozenset({"patients"}), origin=self)

    def _saved(self, record: PatientRecord) -> None:
        self.save_button.setEnabled(True)
        self._show(record)
        self._say(f"Saved {record.display_name} (chart {record.chart_no}).", True)
        self.search.run_search()

    def _failed(self, error: Exception) -> None:
        self.save_button.setEnabled(Scope.PATIENTS_WRITE in self.ctx.actor.scopes)  # type: ignore[union-attr]
        if isinstance(error, ValidationError):
            self.form.show_errors(error.messages())
            self._say("Not saved:\n• " + "\n• ".join(e.message for e in error.errors), False)
            return
        self._say(f"Not saved: {error}", False)
        show_error(self, error)

    def toggle_archive(self) -> None:
        record = self.record
        if record is None:
            return
        archive = record.archived_at is None
        reason = ""
        if archive:
            reason, ok = QInputDialog.getText(
                self,
                "Archive patient",
                f"Archive {record.display_name}? Nothing is deleted: the record leaves daily "
                "lists and can be brought back.\n\nReason (e.g. moved away, deceased):",
            )
            if not ok:
                return
        run_op(
            lambda: patients.set_archived(self.ctx, record.id, archive, reason),
            self._archived,
            self._failed,
            changes=frozenset({"patients"}),
            origin=self,
        )

    def _archived(self, record: PatientRecord) -> None:
        self._show(record)
        state = "archived" if record.archived_at else "back in daily lists"
        self._say(f"{record.display_name} is {state}.", True)
        self.search.run_search()

    def _pick_guarantor(self) -> None:
        dialog = PatientPickerDialog(self.ctx, self)
        if dialog.exec() and dialog.chosen:
            self.form.set_guarantor(*dialog.chosen)

    def _on_changes(self, areas: frozenset[str], origin: object) -> None:
        if "patients" in areas and origin is not self and self.search.query.text():
            self.search.run_search()
