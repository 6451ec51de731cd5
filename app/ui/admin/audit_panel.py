"""The audit log: filter by patient, user and dates; export CSV; verify the chain."""

from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.services import audit
from app.services.audit import AuditFilter, AuditRow
from app.services.context import Ctx
from app.ui.errors import show_error
from app.ui.icons import icon
from app.ui.ops import run_op
from app.ui.table_model import Index, RowsModel


def describe(row: AuditRow) -> str:
    """A short human reading of an event's details (field names changed, reason, ...)."""
    d = row.details
    if "changes" in d:
        return "changed: " + ", ".join(sorted(d["changes"]))
    if "after" in d:
        return "new record"
    return ", ".join(f"{k}={v}" for k, v in sorted(d.items()) if k not in ("before",))[:200]


class AuditModel(RowsModel[AuditRow]):
    HEADERS = ("#", "When", "User", "Action", "Patient", "Details")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        r = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            when = r.occurred_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            return (str(r.seq), when, r.username, r.action, r.patient_name, describe(r))[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 5:
            return str(r.details)[:2000]
        return None


def _optional_date(label: str) -> tuple[QCheckBox, QDateEdit]:
    check = QCheckBox(label)
    edit = QDateEdit(QDate.currentDate())
    edit.setCalendarPopup(True)
    edit.setEnabled(False)
    check.toggled.connect(edit.setEnabled)
    return check, edit


class AuditPanel(QWidget):
    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.patient_id: str | None = None
        self.patient_button = QPushButton("Any patient")
        self.patient_button.setObjectName("auditPatient")
        self.patient_button.clicked.connect(self._pick_patient)
        self.user = QComboBox()
        self.user.setObjectName("auditUser")
        self.user.addItem("Any user", None)
        self.from_check, self.from_date = _optional_date("From")
        self.to_check, self.to_date = _optional_date("To")
        show = QPushButton(icon("search"), "Show")
        show.setObjectName("auditShow")
        show.clicked.connect(self.refresh)
        export = QPushButton(icon("export"), "Export CSV…")
        export.setObjectName("auditExport")
        export.clicked.connect(self.export)
        verify = QPushButton(icon("verify"), "Verify chain")
        verify.setObjectName("auditVerify")
        verify.clicked.connect(self.verify)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Patient:"))
        filters.addWidget(self.patient_button)
        filters.addWidget(QLabel("User:"))
        filters.addWidget(self.user)
        for w in (self.from_check, self.from_date, self.to_check, self.to_date, show):
            filters.addWidget(w)
        filters.addStretch()
        filters.addWidget(export)
        filters.addWidget(verify)
        self.model = AuditModel()
        self.table = QTableView()
        self.table.setObjectName("auditTable")
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.status = QLabel()
        self.status.setStyleSheet("color: #5F6B73;")
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        run_op(lambda: audit.user_choices(ctx), self._fill_users, lambda e: show_error(self, e))

    def _fill_users(self, choices: list[tuple[str, str]]) -> None:
        for user_id, name in choices:
            self.user.addItem(name, user_id)

    def current_filter(self) -> AuditFilter:
        def day(check: QCheckBox, edit: QDateEdit) -> date | None:
            return edit.date().toPython() if check.isChecked() else None  # type: ignore[return-value]

        return AuditFilter(
            patient_id=self.patient_id,
            user_id=self.user.currentData(),
            date_from=day(self.from_check, self.from_date),
            date_to=day(self.to_check, self.to_date),
        )

    def refresh(self) -> None:
        flt = self.current_filter()

        def done(rows: list[AuditRow]) -> None:
            self.model.set_rows(rows)
            more = " (newest shown; narrow the filter to see older)" if len(rows) >= flt.limit else ""
            self.status.setText(f"{len(rows)} event(s){more}")

        run_op(lambda: audit.list_events(self.ctx, flt), done, lambda e: show_error(self, e))

    def _pick_patient(self) -> None:
        from app.ui.patients.page import PatientPickerDialog

        dialog = PatientPickerDialog(self.ctx, self)
        dialog.setWindowTitle("Filter the audit log by patient")
        if dialog.exec() and dialog.chosen:
            self.patient_id, name = dialog.chosen
            self.patient_button.setText(name)
        else:
            self.patient_id = None
            self.patient_button.setText("Any patient")

    def export(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export audit events", "audit-events.csv", "CSV (*.csv)")
        if not name:
            return
        flt = self.current_filter()
        run_op(
            lambda: audit.export_csv(self.ctx, flt, Path(name)),
            lambda n: self.status.setText(f"Exported {n} event(s) to {name}"),
            lambda e: show_error(self, e),
        )

    def verify(self) -> None:
        def done(broken: object) -> None:
            if broken is None:
                QMessageBox.information(
                    self,
                    "Audit chain",
                    "The audit trail is intact: no event was edited, removed or reordered.",
                )
            else:
                QMessageBox.critical(
                    self, "Audit chain", f"The audit trail is BROKEN at event {broken.seq}: {broken.reason}."
                )  # type: ignore[attr-defined]

        run_op(lambda: audit.verify(self.ctx.runtime), done, lambda e: show_error(self, e))
