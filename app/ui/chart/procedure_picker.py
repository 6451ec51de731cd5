"""Pick a procedure from the catalogue: type a code or words, arrows to choose, Enter to add."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain.catalogue import Category, format_money
from app.services.catalogue import ProcedureRow, search

STATUS_CHOICES = (
    ("planned", "Planned"),
    ("completed", "Completed today"),
    ("existing", "Existing"),
    ("referred", "Referred out"),
)


class ProcedurePicker(QDialog):
    """Filters the loaded catalogue on every keystroke (no database round trip)."""

    def __init__(
        self,
        procedures: list[ProcedureRow],
        where: str,
        status: str = "planned",
        plans: list[tuple[str, str]] = (),  # type: ignore[assignment]
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add procedure")
        self.resize(640, 520)
        self._all = procedures
        self.query = QLineEdit()
        self.query.setPlaceholderText("Code or words, e.g. 'RS210' or 'composite two'")
        self.query.setClearButtonEnabled(True)
        self.query.textChanged.connect(self._filter)
        self.results = QListWidget()
        self.results.setObjectName("procedureResults")
        self.results.itemDoubleClicked.connect(lambda _item: self.accept())
        self.status = QComboBox()
        for value, label in STATUS_CHOICES:
            self.status.addItem(label, value)
        self.status.setCurrentIndex(max(0, self.status.findData(status)))
        self.plan = QComboBox()
        self.plan.addItem("The open plan (or a new one)", None)
        for plan_id, name in plans:
            self.plan.addItem(name, plan_id)
        self.status.currentIndexChanged.connect(lambda _i: self.plan.setEnabled(self.status_value() == "planned"))
        form = QFormLayout()
        form.addRow("On", QLabel(f"<b>{where}</b>"))
        form.addRow("Status", self.status)
        form.addRow("Plan", self.plan)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addWidget(self.results, 1)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.query.installEventFilter(self)
        self._filter("")

    def _filter(self, text: str) -> None:
        self.results.clear()
        for row in search(self._all, text)[:200]:
            item = QListWidgetItem(f"{row.code}   {row.description}   ·  {format_money(row.fee_cents)}")
            item.setToolTip(f"{Category(row.category).label} · charted on a {row.area}")
            item.setData(Qt.ItemDataRole.UserRole, row)
            self.results.addItem(item)
        self.results.setCurrentRow(0)

    def eventFilter(self, watched, event) -> bool:  # type: ignore[no-untyped-def]
        # arrows in the search box move the highlighted result, so hands stay on the keys
        if (
            watched is self.query
            and event.type() == event.Type.KeyPress
            and event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down)
        ):
            step = -1 if event.key() == Qt.Key.Key_Up else 1
            row = min(max(self.results.currentRow() + step, 0), self.results.count() - 1)
            self.results.setCurrentRow(row)
            return True
        return super().eventFilter(watched, event)

    def chosen(self) -> ProcedureRow | None:
        item = self.results.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def status_value(self) -> str:
        return str(self.status.currentData())

    def plan_id(self) -> str | None:
        return self.plan.currentData() if self.status_value() == "planned" else None
