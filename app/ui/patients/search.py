"""Search-as-you-type for patients: a results model and a reusable search panel."""

from datetime import date
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.domain.dates import age_on, format_date
from app.domain.phones import display_phone
from app.services import patients
from app.services.context import Ctx
from app.services.patients import PatientSummary
from app.ui.errors import show_error
from app.ui.icons import icon
from app.ui.ops import run_op
from app.ui.table_model import Index, RowsModel


class PatientResultsModel(RowsModel[PatientSummary]):
    HEADERS = ("Chart", "Name", "Date of birth", "Phone")

    def __init__(self, date_order: str, region: str) -> None:
        super().__init__()
        self.date_order, self.region = date_order, region

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        p = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return p.chart_no
            if col == 1:
                return p.display_name + ("  (archived)" if p.archived else "")
            if col == 2:
                return f"{format_date(p.date_of_birth, self.date_order)}  ({age_on(p.date_of_birth, date.today())})"
            return display_phone(p.mobile_phone or p.home_phone, self.region)
        if role == Qt.ItemDataRole.DecorationRole and col == 1 and p.has_alerts:
            return icon("alert")
        if role == Qt.ItemDataRole.ToolTipRole and col == 1 and p.has_alerts:
            return "Has medical alerts"
        if role == Qt.ItemDataRole.ForegroundRole and p.archived:
            return QColor("#8A949B")
        if role == Qt.ItemDataRole.UserRole:
            return p.id
        return None


class PatientSearchPanel(QWidget):
    """A search field with ranked results; emits `patient_chosen(id)` on click or Enter."""

    patient_chosen = Signal(str)
    results_shown = Signal(int)

    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        info = ctx.runtime.info
        self.query = QLineEdit()
        self.query.setObjectName("patientSearch")
        example = "31/12/1980" if info.date_order == "DMY" else "12/31/1980"
        self.query.setPlaceholderText(f"Name, date of birth ({example}), phone or chart no.")
        self.query.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.query.setClearButtonEnabled(True)
        self.include_archived = QCheckBox("Include archived")
        self.model = PatientResultsModel(info.date_order, info.phone_region)
        self.table = QTableView()
        self.table.setObjectName("patientResults")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.status = QLabel("Type to find a patient.")
        self.status.setStyleSheet("color: #5F6B73;")

        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.include_archived)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

        self._generation = 0
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(60)
        self._debounce.timeout.connect(self.run_search)
        self.query.textChanged.connect(lambda _t: self._debounce.start())
        self.include_archived.toggled.connect(lambda _c: self.run_search())
        self.query.returnPressed.connect(self._choose_first)
        self.table.activated.connect(self._choose)
        self.table.clicked.connect(self._choose)

    def run_search(self) -> None:
        """Search now; answers to older keystrokes are dropped when they arrive late."""
        self._generation += 1
        generation = self._generation
        text, archived = self.query.text(), self.include_archived.isChecked()
        if not text.strip():
            self.model.set_rows([])
            self.status.setText("Type to find a patient.")
            return

        def done(rows: list[PatientSummary]) -> None:
            if generation != self._generation:
                return
            self.model.set_rows(rows)
            self.status.setText(f"{len(rows)} patient(s)" if rows else "No patient matches.")
            self.results_shown.emit(len(rows))

        run_op(
            lambda: patients.search(self.ctx, text, include_archived=archived),
            done,
            lambda e: show_error(self, e),
        )

    def _choose(self, index: QModelIndex) -> None:
        self.patient_chosen.emit(self.model.rows[index.row()].id)

    def _choose_first(self) -> None:
        if self.model.rows:
            self.table.selectRow(0)
            self.patient_chosen.emit(self.model.rows[0].id)
