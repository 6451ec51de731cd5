"""The tooth chart tab: the odontogram, quick entry of procedures and findings, and history."""

from datetime import date
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.domain import teeth
from app.domain.catalogue import format_money
from app.domain.errors import FieldError, ValidationError
from app.domain.permissions import Scope
from app.services import catalogue, charting
from app.services.catalogue import ProcedureRow
from app.services.charting import ChartView, EntryView, NewEntry
from app.services.context import Ctx
from app.ui.chart.odontogram import ChartMark, Odontogram, legend, mark_colour
from app.ui.chart.procedure_picker import ProcedurePicker
from app.ui.errors import show_error
from app.ui.ops import run_op
from app.ui.table_model import RowsModel, read_only_table, selected_row

Index = QModelIndex | QPersistentModelIndex
STATUS_LABELS = {
    "condition": "Condition",
    "existing": "Existing",
    "planned": "Planned",
    "completed": "Completed",
    "referred": "Referred",
}
FILTERS = (
    ("All entries", None),
    ("Planned", {"planned"}),
    ("Completed", {"completed"}),
    ("Existing", {"existing"}),
    ("Conditions", {"condition"}),
)


class HistoryModel(RowsModel[EntryView]):
    HEADERS = ("Date", "Tooth", "Code", "Description", "Status", "Provider", "Plan", "Fee")

    def __init__(self) -> None:
        super().__init__()
        self.numbering = teeth.Numbering.UNIVERSAL

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                e.entry_date.strftime("%d %b %Y"),
                charting.place_label(e.tooth, e.surfaces, e.region, self.numbering),
                e.code if e.kind == "procedure" else "",
                e.description,
                STATUS_LABELS.get(e.status, e.status),
                e.provider_name,
                e.plan_name,
                format_money(e.fee_cents) if e.kind == "procedure" else "",
            )[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == 4:
            return mark_colour(ChartMark(e.tooth or "", e.surfaces, e.draw, e.status))
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 7:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class ToothChartTab(QWidget):
    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert ctx.actor is not None
        self.ctx = ctx
        self.can_write = Scope.CHART_WRITE in ctx.actor.scopes
        self.patient_id: str | None = None
        self.view: ChartView | None = None
        self._procedures: list[ProcedureRow] = []

        self.chart = Odontogram()
        self.chart.setObjectName("odontogram")
        self.chart.set_numbering(teeth.Numbering(ctx.runtime.info.tooth_numbering))
        self.chart.tooth_double_clicked.connect(lambda _t: self.pick_procedure())
        self.chart.selection_changed.connect(self._selection_changed)

        self.dentition = QComboBox()
        for d, label in (
            (teeth.Dentition.PERMANENT, "Permanent"),
            (teeth.Dentition.MIXED, "Mixed"),
            (teeth.Dentition.PRIMARY, "Primary"),
        ):
            self.dentition.addItem(label, d)
        self.dentition.currentIndexChanged.connect(lambda _i: self.chart.set_dentition(self.dentition.currentData()))
        self.selection_label = QLabel("Click a tooth or a surface; Ctrl-click adds more.")
        self.add_button = QPushButton("Add procedure…")
        self.add_button.setObjectName("addProcedure")
        self.add_button.setToolTip("Pick from the catalogue for the selected teeth (Enter, or double-click a tooth)")
        self.add_button.clicked.connect(self.pick_procedure)
        self.condition_button = QToolButton()
        self.condition_button.setText("Add finding")
        self.condition_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.condition_button)
        for cond in catalogue.conditions():
            menu.addAction(cond.label, lambda c=cond.code: self.add_condition(c))
        self.condition_button.setMenu(menu)
        for w in (self.add_button, self.condition_button):
            w.setEnabled(self.can_write)

        tools = QHBoxLayout()
        tools.addWidget(QLabel("Teeth:"))
        tools.addWidget(self.dentition)
        tools.addSpacing(12)
        tools.addWidget(self.selection_label, 1)
        tools.addWidget(self.condition_button)
        tools.addWidget(self.add_button)
        key = QHBoxLayout()
        key.addWidget(QLabel("Key:"))
        for label, colour in legend():
            swatch = QLabel(f"■ {label}")
            swatch.setStyleSheet(f"color: {QColor(colour).name()}; font-weight: 600;")
            key.addWidget(swatch)
        key.addStretch()

        self.filter = QComboBox()
        for label, _statuses in FILTERS:
            self.filter.addItem(label)
        self.filter.currentIndexChanged.connect(lambda _i: self._show_history())
        self.complete_button = QPushButton("Complete")
        self.complete_button.setToolTip("Mark the selected planned work as done today by you")
        self.complete_button.clicked.connect(self.complete_selected)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setToolTip("Take back an entry made in error (the reason is kept in the audit trail)")
        self.remove_button.clicked.connect(self.remove_selected)
        self.model = HistoryModel()
        self.table = read_only_table(self.model, 3)
        self.table.setObjectName("chartHistory")
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._history_selected())
        history_bar = QHBoxLayout()
        history_title = QLabel("Chart history")
        history_title.setStyleSheet("font-weight: 600;")
        history_bar.addWidget(history_title)
        history_bar.addWidget(self.filter)
        history_bar.addStretch()
        history_bar.addWidget(self.complete_button)
        history_bar.addWidget(self.remove_button)

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addLayout(tools)
        tl.addWidget(self.chart, 1)
        tl.addLayout(key)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addLayout(history_bar)
        bl.addWidget(self.table, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setSizes([520, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        enter = QShortcut(QKeySequence(Qt.Key.Key_Return), self.chart)
        enter.setContext(Qt.ShortcutContext.WidgetShortcut)
        enter.activated.connect(self.pick_procedure)
        self._history_selected()

    # --- loading ---------------------------------------------------------------------------
    def set_view(self, view: ChartView | None) -> None:
        """Show a chart the page loaded (the page opens it once, audited, for all tabs)."""
        self.view = view
        self.patient_id = view.header.patient_id if view else None
        self.chart.set_numbering(view.numbering if view else self.chart.numbering())
        self.model.numbering = self.chart.numbering()
        marks = [
            ChartMark(e.tooth, e.surfaces, e.draw, e.status, f"{e.code} {e.description}".strip())
            for e in (view.entries if view else ())
            if e.tooth and e.drawn
        ]
        self.chart.set_marks(marks)
        if view and view.header.patient_id != getattr(self, "_shown_patient", None):
            # a child's chart opens on the teeth they have; the combo still switches it
            self._shown_patient = view.header.patient_id
            age = view.header.age
            dentition = (
                teeth.Dentition.PRIMARY if age < 6 else teeth.Dentition.MIXED if age < 13 else teeth.Dentition.PERMANENT
            )
            self.dentition.setCurrentIndex(self.dentition.findData(dentition))
        self.chart.clear_selection()
        self._show_history()
        if view and not self._procedures:
            run_op(lambda: catalogue.list_procedures(self.ctx), self._catalogue_loaded, lambda e: show_error(self, e))

    def _catalogue_loaded(self, rows: list[ProcedureRow]) -> None:
        self._procedures = rows

    def _show_history(self) -> None:
        statuses = FILTERS[self.filter.currentIndex()][1]
        entries = self.view.entries if self.view else ()
        self.model.set_rows([e for e in entries if statuses is None or e.status in statuses])
        self._history_selected()

    # --- selection --------------------------------------------------------------------------
    def _where(self) -> str:
        picked = self.chart.selection()
        if not picked:
            return "No tooth selected (whole mouth)"
        return ", ".join(charting.place_label(t, s, "", self.chart.numbering()) for t, s in picked)

    def _selection_changed(self, picked: list) -> None:  # type: ignore[type-arg]
        self.selection_label.setText(
            f"Selected: {self._where()}" if picked else "Click a tooth or a surface; Ctrl-click adds more."
        )

    def _selected_entry(self) -> EntryView | None:
        row = selected_row(self.table)
        return self.model.rows[row] if row is not None else None

    def _history_selected(self) -> None:
        e = self._selected_entry()
        self.complete_button.setEnabled(self.can_write and e is not None and e.status in ("planned", "referred"))
        self.remove_button.setEnabled(self.can_write and e is not None)
        self.chart.set_highlight([e.tooth] if e and e.tooth else [])

    # --- actions ----------------------------------------------------------------------------
    def pick_procedure(self) -> None:
        if not (self.can_write and self.view):
            return
        plans = sorted({(e.plan_id, e.plan_name) for e in self.view.entries if e.plan_id and e.status == "planned"})
        picker = ProcedurePicker(self._procedures, self._where(), plans=plans, parent=self)  # type: ignore[arg-type]
        if picker.exec() and (row := picker.chosen()):
            self.add_procedure(row.code, picker.status_value(), picker.plan_id())

    def add_procedure(self, code: str, status: str, plan_id: str | None = None) -> None:
        """Chart `code` on each selected tooth (with its surfaces), or once if none is selected."""
        assert self.patient_id is not None
        picked = self.chart.selection() or [(None, "")]
        entries = [NewEntry(code, status, tooth=t, surfaces=s, plan_id=plan_id) for t, s in picked]
        pid = self.patient_id
        run_op(
            lambda: charting.add_procedures(self.ctx, pid, entries),
            self.set_view,
            lambda e: show_error(self, e),
            changes=frozenset({"chart"}),
            origin=self,
        )

    def add_condition(self, code: str) -> None:
        assert self.patient_id is not None
        picked = self.chart.selection()
        if not picked:
            show_error(self, ValidationError([FieldError("tooth", "Select a tooth first.")]))
            return
        pid = self.patient_id

        def call() -> ChartView:
            view = None
            for t, s in picked:
                view = charting.add_condition(self.ctx, pid, code, t, s)
            assert view is not None
            return view

        run_op(call, self.set_view, lambda e: show_error(self, e), changes=frozenset({"chart"}), origin=self)

    def complete_selected(self, on: date | None = None) -> None:
        e = self._selected_entry()
        if e is None:
            return
        run_op(
            lambda: charting.complete_entry(self.ctx, e.id, e.version, on=on),
            self.set_view,
            lambda err: show_error(self, err),
            changes=frozenset({"chart"}),
            origin=self,
        )

    def remove_selected(self, reason: str | None = None) -> None:
        e = self._selected_entry()
        if e is None:
            return
        if reason is None:
            reason, ok = QInputDialog.getText(self, "Remove entry", f"Why is “{e.description}” being removed?")
            if not ok:
                return
        why = reason
        run_op(
            lambda: charting.remove_entry(self.ctx, e.id, e.version, why),
            self.set_view,
            lambda err: show_error(self, err),
            changes=frozenset({"chart"}),
            origin=self,
        )
