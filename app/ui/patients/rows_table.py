"""A small editable table of rows (insurance plans, medical alerts) with add and remove."""

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.icons import icon


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    choices: tuple[tuple[str, str], ...] = ()  # (value, label) makes a drop-down
    check: bool = False


class RowsTable(QWidget):
    """Rows of plain values keyed by column; `rows()` reads them back as dicts of strings/bools."""

    changed = Signal()

    def __init__(self, columns: tuple[Column, ...], add_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns = columns
        self.table = QTableWidget(0, len(columns))
        self.table.setHorizontalHeaderLabels([c.header for c in columns])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(lambda _i: self.changed.emit())
        self.add_button = QPushButton(icon("add"), add_label)
        self.add_button.clicked.connect(lambda: self.add_row({}))
        self.remove_button = QPushButton("Remove selected")
        self.remove_button.clicked.connect(self._remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)

    def add_row(self, values: dict[str, object]) -> None:
        row = self.table.rowCount()
        self.table.blockSignals(True)
        self.table.insertRow(row)
        for col, c in enumerate(self.columns):
            value = values.get(c.key, "")
            if c.choices:
                combo = QComboBox()
                for v, label in c.choices:
                    combo.addItem(label, v)
                combo.setCurrentIndex(max(0, combo.findData(value or c.choices[0][0])))
                combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
                self.table.setCellWidget(row, col, combo)
            elif c.check:
                box = QCheckBox()
                box.setChecked(bool(value))
                box.toggled.connect(lambda _c: self.changed.emit())
                self.table.setCellWidget(row, col, box)
            else:
                self.table.setItem(row, col, QTableWidgetItem(str(value)))
        self.table.blockSignals(False)
        if not values:
            self.table.setCurrentCell(row, 0)
            self.table.editItem(
                self.table.item(row, next(i for i, c in enumerate(self.columns) if not c.choices and not c.check))
            )
        self.changed.emit()

    def set_rows(self, rows: list[dict[str, object]]) -> None:
        self.table.setRowCount(0)
        for values in rows:
            self.add_row(values)
        self.changed.emit()

    def rows(self) -> list[dict[str, object]]:
        out = []
        for row in range(self.table.rowCount()):
            values: dict[str, object] = {}
            for col, c in enumerate(self.columns):
                widget = self.table.cellWidget(row, col)
                if isinstance(widget, QComboBox):
                    values[c.key] = widget.currentData()
                elif isinstance(widget, QCheckBox):
                    values[c.key] = widget.isChecked()
                else:
                    item = self.table.item(row, col)
                    values[c.key] = item.text() if item else ""
            out.append(values)
        return out

    def set_editable(self, editable: bool) -> None:
        self.add_button.setEnabled(editable)
        self.remove_button.setEnabled(editable)
        self.table.setEnabled(editable)

    def _remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()} | {self.table.currentRow()}, reverse=True)
        for row in rows:
            if row >= 0:
                self.table.removeRow(row)
        self.changed.emit()
