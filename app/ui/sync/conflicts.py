"""The conflicts list: what sync could not settle by itself, side by side, for a person to choose.

Anyone signed in sees the list; choosing needs the permission of the record's area, which
the service checks (a refusal is shown here, in words).
"""

import re
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import UserError
from app.services import sync_conflicts
from app.services.context import Ctx
from app.services.sync_conflicts import DISMISS, KEEP_MINE, KEEP_THEIRS, ConflictView
from app.ui.errors import show_error
from app.ui.ops import bus, run_op
from app.ui.shell.sync_status import local_time
from app.ui.sync.runner import PULLED_AREAS
from app.ui.table_model import Index, RowsModel, read_only_table, selected_row
from sync.protocol import instant

CHOICES = (
    (KEEP_THEIRS, "Keep the other workstation's"),
    (KEEP_MINE, "Use this workstation's"),
    (DISMISS, "Dismiss"),
)
HIDDEN_FIELDS = frozenset({"id", "version", "created_at", "updated_at", "_field_versions"})
OVERLAP_HINT = "Rebook it from the pinboard in the appointment book."
_STORED_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def field_label(name: str) -> str:
    return name.strip("_").removesuffix("_id").replace("_", " ").capitalize()


def shown_value(value: Any, names: dict[str, str] | None = None) -> str:
    """A stored value as a person reads it: linked records by name, times in this computer's
    zone, yes/no, a dash for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str) and names and value in names:
        return names[value]
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str) and _STORED_TIME.match(value):
        moment = instant(value)
        return local_time(moment) if moment else value
    return str(value)


def differences(
    mine: dict[str, Any] | None, theirs: dict[str, Any] | None, names: dict[str, str] | None = None
) -> list[tuple[str, str, str]]:
    """(field, this workstation's, the other's) for the fields that differ; one side only: its filled fields."""
    fields = [n for n in {**(mine or {}), **(theirs or {})} if n not in HIDDEN_FIELDS]
    rows = []
    for name in fields:
        a, b = (mine or {}).get(name), (theirs or {}).get(name)
        if (mine is not None and theirs is not None and a == b) or (a in (None, "") and b in (None, "")):
            continue
        rows.append((field_label(name), shown_value(a, names), shown_value(b, names)))
    return rows


def whose(c: ConflictView) -> str:
    """'Maria Lopez (chart 1042), 2026-11-23 09:00': whose record, and an appointment's time."""
    parts = [c.patient or ""] + ([local_time(c.starts_at)] if c.starts_at else [])
    return ", ".join(p for p in parts if p) or "—"


class ConflictsModel(RowsModel[ConflictView]):
    HEADERS = ("What", "Whose", "Detected", "What happened")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        c = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (c.what, whose(c), local_time(c.detected_at), c.message)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 3:
            return c.message
        return None


class ConflictsList(QWidget):
    """Open conflicts above; the chosen one's differing fields and its choices below."""

    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = ConflictsModel()
        self.table = read_only_table(self.model, stretch=3)
        self.table.setObjectName("conflictsTable")
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._show_selected())
        self.empty = QLabel("No conflicts: every workstation agrees.")
        self.empty.setStyleSheet("color: #5F6B73;")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.hint = QLabel(OVERLAP_HINT)
        self.hint.setStyleSheet("font-weight: 600;")
        self.fields = QTableWidget(0, 3)
        self.fields.setObjectName("conflictFields")
        self.fields.setHorizontalHeaderLabels(("Field", "This workstation", "Other workstation"))
        self.fields.verticalHeader().hide()
        self.fields.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.fields.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.fields.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.buttons: dict[str, QPushButton] = {}
        choices = QHBoxLayout()
        for choice, label in CHOICES:
            button = QPushButton(label)
            button.setObjectName(f"conflict_{choice}")
            button.clicked.connect(lambda _=False, c=choice: self.resolve(c))
            self.buttons[choice] = button
            choices.addWidget(button)
        choices.addStretch()
        self.outcome = QLabel()
        self.outcome.setObjectName("conflictOutcome")
        self.outcome.setWordWrap(True)

        details = QWidget()
        lower = QVBoxLayout(details)
        lower.setContentsMargins(0, 0, 0, 0)
        lower.addWidget(self.message)
        lower.addWidget(self.hint)
        lower.addWidget(self.fields, 1)
        lower.addLayout(choices)
        lower.addWidget(self.outcome)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(details)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty)
        layout.addWidget(split, 1)
        self._show_selected()
        bus.changes_applied.connect(self._on_changes)
        self.refresh()

    def refresh(self) -> None:
        run_op(lambda: sync_conflicts.list_open(self.ctx), self._show_rows, lambda e: show_error(self, e))

    def _show_rows(self, rows: list[ConflictView]) -> None:
        chosen = self.current()
        self.model.set_rows(rows)
        self.empty.setVisible(not rows)
        ids = [r.id for r in rows]
        if rows:
            self.table.selectRow(ids.index(chosen.id) if chosen and chosen.id in ids else 0)
        self._show_selected()

    def current(self) -> ConflictView | None:
        row = selected_row(self.table)
        return None if row is None or row >= len(self.model.rows) else self.model.rows[row]

    def _show_selected(self) -> None:
        conflict = self.current()
        self.message.setText(conflict.message if conflict else "")
        self.hint.setVisible(conflict is not None and conflict.reason == "overlap")
        diff = differences(conflict.mine, conflict.theirs, conflict.names) if conflict else []
        self.fields.setRowCount(len(diff))
        for r, values in enumerate(diff):
            for c, value in enumerate(values):
                self.fields.setItem(r, c, QTableWidgetItem(value))
        self.fields.setVisible(bool(diff))
        for choice, button in self.buttons.items():
            button.setVisible(conflict is not None and choice in conflict.choices)

    def resolve(self, choice: str) -> None:
        conflict = self.current()
        if conflict is None:
            return
        label = dict(CHOICES)[choice]
        self.outcome.setText("")
        run_op(
            lambda: sync_conflicts.resolve(self.ctx, conflict.id, choice),
            lambda _r: self._resolved(f"{conflict.what}: {label.lower()} — done."),
            self._failed,
            changes=PULLED_AREAS,  # keeping this workstation's version changes the record itself
            origin=self,
        )

    def _resolved(self, text: str) -> None:
        self.say(text, ok=True)
        self.refresh()

    def _failed(self, error: Exception) -> None:
        if isinstance(error, UserError):  # not allowed, or already resolved elsewhere
            self.say(str(error), ok=False)
            self.refresh()
            return
        show_error(self, error)

    def say(self, text: str, ok: bool) -> None:
        self.outcome.setStyleSheet(f"color: {'#1B5E20' if ok else '#B3261E'};")
        self.outcome.setText(text)

    def _on_changes(self, areas: frozenset[str], origin: object) -> None:
        if "sync" in areas and origin is not self:
            self.refresh()


class ConflictsDialog(QDialog):
    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sync conflicts")
        self.resize(900, 560)
        intro = QLabel(
            "Sync has already made every workstation agree; these are the choices left for a person. "
            "Nothing here is lost until you choose."
        )
        intro.setWordWrap(True)
        self.list = ConflictsList(ctx)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addWidget(close)
