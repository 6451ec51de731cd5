"""The recall list: who is due back, filtered by state; book them, send a reminder, or note a call."""

from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.dates import format_date
from app.domain.errors import UserError
from app.domain.permissions import Scope
from app.domain.phones import display_phone
from app.services import recalls
from app.services.context import Ctx
from app.services.recalls import RecallRow
from app.services.schedule_lookup import TypeChoice
from app.services.scheduling import Resource
from app.ui.errors import show_error
from app.ui.ops import run_op
from app.ui.schedule.dialogs import NextAvailableDialog
from app.ui.table_model import Index, RowsModel, read_only_table, selected_row

FILTERS: tuple[tuple[str, str | None], ...] = (
    ("All", None),
    ("Due", "due"),
    ("Overdue", "overdue"),
    ("Upcoming", "upcoming"),
    ("Contacted", "contacted"),
)
CHANNELS = {"sms": "SMS", "email": "Email", "phone": "Phone", "post": "Post", "none": "Do not contact"}
STATE_COLOURS = {"overdue": "#B3261E", "due": "#8A5A00", "contacted": "#1B5E20", "upcoming": "#5F6B73"}
CHANGES = frozenset({"recalls", "messages"})


def contact_text(row: RecallRow, region: str) -> str:
    """How the desk reaches the patient: 'SMS: (212) 555-0142', 'Phone: …', or 'Do not contact'."""
    label = CHANNELS.get(row.contact_channel, row.contact_channel)
    if not row.contact:
        return label
    shown = display_phone(row.contact, region) if row.contact_channel in ("sms", "phone") else row.contact
    return f"{label}: {shown}"


class RecallModel(RowsModel[RecallRow]):
    HEADERS = ("Patient", "Recall", "Due", "State", "Last visit", "Contact")

    def __init__(self, date_order: str, region: str) -> None:
        super().__init__()
        self.date_order, self.region = date_order, region

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        r = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            last = format_date(r.last_completed, self.date_order) if r.last_completed else "—"
            due = format_date(r.due_date, self.date_order)
            cells = (r.patient_name, r.recall_type, due, r.state.capitalize(), last, contact_text(r, self.region))
            return cells[index.column()]
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 3:
            return QColor(STATE_COLOURS[r.state])
        if role == Qt.ItemDataRole.UserRole:
            return r.id
        return None


class RecallListDialog(QDialog):
    """The front desk's recall list; every service call runs off the GUI thread."""

    def __init__(
        self,
        ctx: Ctx,
        location_id: str,
        providers: list[Resource],
        operatories: list[Resource],
        types: list[TypeChoice],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Recalls")
        self.setMinimumSize(900, 520)
        self.ctx, self.location_id = ctx, location_id
        self.providers, self.operatories, self.types = providers, operatories, types
        info = ctx.runtime.info
        self._generation = 0

        self.state = QComboBox()
        self.state.setObjectName("recallState")
        for label, value in FILTERS:
            self.state.addItem(label, value)
        self.model = RecallModel(info.date_order, info.phone_region)
        self.table = read_only_table(self.model, 0)
        self.table.setObjectName("recallTable")
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        self.book_button = QPushButton("Book…")
        self.book_button.setObjectName("bookRecall")
        self.book_button.clicked.connect(self.book)
        self.send_button = QPushButton("Send reminder")
        self.send_button.setObjectName("sendRecallReminder")
        self.send_button.setToolTip("Queue a recall notice by the patient's consented SMS or email")
        self.send_button.clicked.connect(self.send_reminder)
        self.contacted_button = QPushButton("Mark contacted")
        self.contacted_button.setObjectName("markRecallContacted")
        self.contacted_button.setToolTip("After a phone call or a letter, so nobody chases them twice")
        self.contacted_button.clicked.connect(self.mark_contacted)
        self.can_write = Scope.APPOINTMENTS_WRITE in (ctx.actor.scopes if ctx.actor else ())
        self.count = QLabel()
        self.count.setStyleSheet("color: #5F6B73;")
        self.message = QLabel()
        self.message.setObjectName("recallMessage")
        self.message.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.state)
        top.addStretch()
        top.addWidget(self.count)
        actions = QHBoxLayout()
        actions.addWidget(self.message, 1)
        for b in (self.book_button, self.send_button, self.contacted_button):
            actions.addWidget(b)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        layout.addWidget(close)

        self.state.currentIndexChanged.connect(lambda _i: self.refresh())
        self._update_buttons()
        self.refresh()

    # --- loading -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Load the list for the chosen state; an answer to an older filter is dropped."""
        self._generation += 1
        generation, state = self._generation, self.state.currentData()
        run_op(
            lambda: recalls.recall_list(self.ctx, state=state),
            lambda rows: self._show(generation, rows),
            self._failed,
        )

    def _show(self, generation: int, rows: list[RecallRow]) -> None:
        if generation != self._generation:
            return
        chosen = self.selected()
        self.model.set_rows(rows)
        if chosen is not None:
            index = next((i for i, r in enumerate(rows) if r.id == chosen.id), None)
            if index is not None:
                self.table.selectRow(index)
        self.count.setText(f"{len(rows)} recall{'s' if len(rows) != 1 else ''}")
        self._update_buttons()

    def selected(self) -> RecallRow | None:
        row = selected_row(self.table)
        return self.model.rows[row] if row is not None and row < len(self.model.rows) else None

    def _chosen(self) -> RecallRow | None:
        """The selected recall, or None after asking the user to choose one."""
        row = self.selected()
        if row is None:
            self.say("Choose a recall first.", ok=False)
        return row

    def _update_buttons(self) -> None:
        chosen = self.selected() is not None and self.can_write
        for b in (self.book_button, self.send_button, self.contacted_button):
            b.setEnabled(chosen)

    def say(self, text: str, ok: bool = True) -> None:
        self.message.setStyleSheet(f"color: {'#1B5E20' if ok else '#B3261E'};")
        self.message.setText(text)

    def _failed(self, error: Exception) -> None:
        if isinstance(error, UserError):
            self.say(str(error), ok=False)
        else:
            show_error(self, error)

    # --- actions -------------------------------------------------------------------------------
    def booking_dialog(self, row: RecallRow) -> NextAvailableDialog:
        """Next available, with the patient, the recall's visit type and dates from the due date preset."""
        dialog = NextAvailableDialog(
            self.ctx,
            location_id=self.location_id,
            providers=self.providers,
            operatories=self.operatories,
            types=self.types,
            patient=(row.patient_id, row.patient_name),
            parent=self,
        )
        for i in range(dialog.type.count()):
            kind = dialog.type.itemData(i)
            if isinstance(kind, TypeChoice) and kind.id == row.appointment_type_id:
                dialog.type.setCurrentIndex(i)
                break
        # not before the due date: many insurers refuse a hygiene visit that comes too soon
        first = max(recalls.clinic_today(self.ctx), row.due_date)
        dialog.first.setDate(_qdate(first))
        dialog.last.setDate(_qdate(first + timedelta(days=92)))
        return dialog

    def book(self) -> None:
        row = self._chosen()
        if row is None:
            return
        dialog = self.booking_dialog(row)
        if dialog.exec() and dialog.booked is not None:
            self.say(f"Booked {dialog.booked.patient_name}.")
            self.refresh()

    def send_reminder(self) -> None:
        row = self._chosen()
        if row is None:
            return

        def done(_message_id: str) -> None:
            self.say(f"Reminder queued for {row.patient_name}; the recall is marked contacted.")
            self.refresh()

        run_op(lambda: recalls.send_recall_notice(self.ctx, row.id), done, self._failed, changes=CHANGES, origin=self)

    def mark_contacted(self) -> None:
        row = self._chosen()
        if row is None:
            return

        def done(updated: RecallRow) -> None:
            self.say(f"{updated.patient_name} is marked contacted.")
            self.refresh()

        run_op(lambda: recalls.mark_contacted(self.ctx, row.id), done, self._failed, changes=CHANGES, origin=self)


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)
