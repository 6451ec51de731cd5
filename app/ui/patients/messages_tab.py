"""A patient's Messages tab: every reminder and notice queued for them, with its delivery status."""

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.domain.dates import format_date
from app.domain.errors import UserError
from app.domain.permissions import Scope
from app.services.context import Ctx
from app.services.messaging import outbox
from app.services.messaging.outbox import MessageView
from app.ui.errors import show_error
from app.ui.ops import bus, run_op
from app.ui.table_model import Index, RowsModel, read_only_table, selected_row

CHANGES = frozenset({"messages"})
STATUS_COLOURS = {outbox.FAILED: "#B3261E", outbox.SENT: "#1B5E20", outbox.WITHDRAWN: "#8A949B"}


def status_text(m: MessageView) -> str:
    """'pending', 'sent · 1 attempt', 'failed · 5 attempts'."""
    if not m.attempts:
        return m.status
    return f"{m.status} · {m.attempts} attempt{'s' if m.attempts != 1 else ''}"


class MessagesModel(RowsModel[MessageView]):
    HEADERS = ("Queued", "Channel", "To", "Message", "Status", "Sent", "Last error")

    def __init__(self, when: Callable[[datetime | None], str]) -> None:
        super().__init__()
        self.when = when

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        m, col = self.rows[index.row()], index.column()
        error = m.last_error if m.status == outbox.FAILED else ""
        if role == Qt.ItemDataRole.DisplayRole:
            channel = "SMS" if m.channel == "sms" else m.channel.capitalize()
            # an email has a subject; an SMS is only its text
            message = m.subject if m.channel == "email" else m.preview
            queued, sent = self.when(m.created_at), self.when(m.sent_at)
            return (queued, channel, m.recipient, message, status_text(m), sent, error)[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 3:
                return m.preview
            if col == 4 and m.next_attempt_at is not None:
                return f"Next try {self.when(m.next_attempt_at)}"
            if col == 6:
                return error or None
        if role == Qt.ItemDataRole.ForegroundRole and col == 4 and m.status in STATUS_COLOURS:
            return QColor(STATUS_COLOURS[m.status])
        if role == Qt.ItemDataRole.UserRole:
            return m.id
        return None


class MessagesTab(QWidget):
    """Lists a patient's messages; reads them only when the tab is shown, since each reading is audited."""

    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        info = ctx.runtime.info
        self.tz, self.date_order = ZoneInfo(info.time_zone), info.date_order
        self.patient_id: str | None = None
        self._stale = False
        self.can_retry = Scope.PATIENTS_WRITE in (ctx.actor.scopes if ctx.actor else ())
        self.model = MessagesModel(self.when)
        self.table = read_only_table(self.model, 3)
        self.table.setObjectName("patientMessages")
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        self.retry_button = QPushButton("Retry")
        self.retry_button.setObjectName("retryMessage")
        self.retry_button.setToolTip("Send a failed message again (after correcting the number or address)")
        self.retry_button.clicked.connect(self.retry)
        self.status = QLabel()
        self.status.setObjectName("messagesStatus")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.retry_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        bus.changes_applied.connect(self._on_changes)
        self.set_patient(None)

    def when(self, instant: datetime | None) -> str:
        if instant is None:
            return ""
        local = instant.astimezone(self.tz)
        return f"{format_date(local.date(), self.date_order)} {local:%H:%M}"

    def set_patient(self, patient_id: str | None) -> None:
        """Show this patient's messages (none for a new patient); read when the tab is on screen."""
        if patient_id == self.patient_id and patient_id is not None:
            return
        self.patient_id = patient_id
        self.model.set_rows([])
        self._say("" if patient_id else "Messages appear here once the patient is saved.", True)
        self._stale = patient_id is not None
        self._update_buttons()
        if self._stale and self.isVisible():
            self.refresh()

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def refresh(self) -> None:
        patient_id = self.patient_id
        if patient_id is None:
            return
        self._stale = False
        run_op(
            lambda: outbox.messages_for_patient(self.ctx, patient_id),
            lambda rows: self._show(patient_id, rows),
            self._failed,
        )

    def _show(self, patient_id: str, rows: list[MessageView]) -> None:
        if patient_id != self.patient_id:
            return  # another patient was opened meanwhile
        self.model.set_rows(rows)
        failed = sum(1 for m in rows if m.status == outbox.FAILED)
        if not rows:
            self._say("No messages have been sent to this patient.", True)
        elif failed:
            self._say(f"{failed} message{'s' if failed != 1 else ''} failed: call the patient or retry.", False)
        else:
            self._say(f"{len(rows)} message{'s' if len(rows) != 1 else ''}.", True)
        self._update_buttons()

    def selected(self) -> MessageView | None:
        row = selected_row(self.table)
        return self.model.rows[row] if row is not None and row < len(self.model.rows) else None

    def _update_buttons(self) -> None:
        m = self.selected()
        self.retry_button.setEnabled(self.can_retry and m is not None and m.status == outbox.FAILED)

    def retry(self) -> None:
        m = self.selected()
        if m is None or m.status != outbox.FAILED:
            self._say("Choose a failed message to retry.", False)
            return

        def done(_result: object) -> None:
            self._say("Queued again; it goes out with the next batch.", True)
            self.refresh()

        def failed(error: Exception) -> None:
            self._failed(error)
            # someone else may have retried it already: show where it stands now
            self.refresh()

        run_op(lambda: outbox.retry_message(self.ctx, m.id), done, failed, changes=CHANGES, origin=self)

    def _failed(self, error: Exception) -> None:
        if isinstance(error, UserError):
            self._say(str(error), False)
        else:
            show_error(self, error)

    def _say(self, text: str, ok: bool) -> None:
        self.status.setStyleSheet(f"color: {'#5F6B73' if ok else '#B3261E'};")
        self.status.setText(text)

    def _on_changes(self, areas: frozenset[str], origin: object) -> None:
        # a reminder sent from the recall list, or a retry elsewhere, shows here too
        if "messages" in areas and origin is not self and self.patient_id is not None:
            self._stale = True
            if self.isVisible():
                self.refresh()
