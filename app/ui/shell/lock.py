"""The idle lock: a timer reset by any input, and the screen that covers the work until unlock."""

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import UserError
from app.ui.icons import icon

_ACTIVITY = {
    QEvent.Type.KeyPress,
    QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseMove,
    QEvent.Type.Wheel,
    QEvent.Type.TouchBegin,
}


class IdleWatcher(QObject):
    """Emits `idle_timed_out` after a stretch with no keyboard or mouse input anywhere in the app."""

    idle_timed_out = Signal()

    def __init__(self, timeout_ms: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.idle_timed_out)
        self.set_timeout_ms(timeout_ms)
        QApplication.instance().installEventFilter(self)

    def set_timeout_ms(self, ms: int) -> None:
        self._timer.setInterval(ms)
        self._timer.start()

    def pause(self) -> None:
        self._timer.stop()

    def resume(self) -> None:
        self._timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() in _ACTIVITY and self._timer.isActive():
            self._timer.start()
        return False


class LockScreen(QWidget):
    """Covers the window while locked; only the signed-in user's password opens it again."""

    unlocked = Signal()
    sign_out_requested = Signal()

    def __init__(self, unlock: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lockScreen")
        self._unlock = unlock
        self.title = QLabel()
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setStyleSheet("font-size: 20px; font-weight: 600;")
        badge = QLabel()
        badge.setPixmap(icon("lock").pixmap(64, 64))
        badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.password = QLineEdit()
        self.password.setObjectName("unlockPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("Password")
        self.password.setMaximumWidth(320)
        self.password.returnPressed.connect(self._try_unlock)
        self.message = QLabel()
        self.message.setStyleSheet("color: #B3261E;")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        unlock_button = QPushButton("Unlock")
        unlock_button.setDefault(True)
        unlock_button.clicked.connect(self._try_unlock)
        sign_out = QPushButton("Sign out")
        sign_out.clicked.connect(self.sign_out_requested)
        row = QHBoxLayout()
        row.addStretch()
        row.addWidget(self.password)
        row.addWidget(unlock_button)
        row.addStretch()
        buttons = QHBoxLayout()
        buttons.addStretch()
        buttons.addWidget(sign_out)
        buttons.addStretch()
        hint = QLabel("Patient information is hidden while the screen is locked.")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setStyleSheet("color: #5F6B73;")
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(badge)
        layout.addWidget(self.title)
        layout.addWidget(hint)
        layout.addSpacing(12)
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        layout.addStretch(3)

    def prepare(self, user_name: str) -> None:
        self.title.setText(f"Locked — {user_name}")
        self.password.clear()
        self.message.clear()
        self.password.setFocus()

    def _try_unlock(self) -> None:
        try:
            self._unlock(self.password.text())
        except UserError as e:
            self.message.setText(str(e))
            self.password.clear()
            return
        self.unlocked.emit()
