"""Sign-in, recovery passphrase and change-password dialogs: they collect input, nothing more."""

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import UserError
from app.ui.icons import icon


def _message_label() -> QLabel:
    label = QLabel()
    label.setObjectName("formMessage")
    label.setWordWrap(True)
    label.setStyleSheet("color: #B3261E;")
    label.hide()
    return label


class _CheckedDialog(QDialog):
    """A dialog whose OK runs a check; a UserError keeps it open with the message shown."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowIcon(icon("app"))
        self.message = _message_label()
        self.form = QFormLayout()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._try_accept)
        self.buttons.rejected.connect(self.reject)
        self.header = QLabel()
        self.header.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addLayout(self.form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.check: Callable[[], None] = lambda: None

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def _try_accept(self) -> None:
        try:
            self.check()
        except UserError as e:
            self.show_message(str(e))
            return
        self.accept()


def _password_field() -> QLineEdit:
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    return field


class SignInDialog(_CheckedDialog):
    """Username and password; `attempt(username, password)` decides, raising UserError on refusal."""

    def __init__(self, clinic_name: str, attempt: Callable[[str, str], None], parent: QWidget | None = None):
        super().__init__("Sign in to Chairside", parent)
        self.header.setText(f"<h2>{clinic_name}</h2>Sign in with your staff account.")
        self.username = QLineEdit()
        self.username.setObjectName("username")
        self.password = _password_field()
        self.password.setObjectName("password")
        self.form.addRow("&Username", self.username)
        self.form.addRow("&Password", self.password)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign in")
        self.check = lambda: attempt(self.username.text(), self.password.text())
        self.setMinimumWidth(380)

    def _try_accept(self) -> None:
        super()._try_accept()
        if self.result() != QDialog.DialogCode.Accepted:
            self.password.clear()
            self.password.setFocus()


class PassphraseDialog(_CheckedDialog):
    """Asks for the clinic's recovery passphrase when the OS keyring cannot supply the key."""

    def __init__(self, data_dir: str, attempt: Callable[[str], None], parent: QWidget | None = None):
        super().__init__("Unlock the clinic database", parent)
        self.header.setText(
            "This workstation's keyring does not hold the clinic's database key.<br>"
            "Type the clinic's <b>recovery passphrase</b> to open it.<br>"
            f"<small>{data_dir}</small>"
        )
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.passphrase = _password_field()
        self.passphrase.setObjectName("passphrase")
        self.form.addRow("Recovery &passphrase", self.passphrase)
        self.check = lambda: attempt(self.passphrase.text())
        self.setMinimumWidth(460)


class ChangePasswordDialog(_CheckedDialog):
    def __init__(self, change: Callable[[str, str], None], parent: QWidget | None = None):
        super().__init__("Change your password", parent)
        self.current = _password_field()
        self.new = _password_field()
        self.repeat = _password_field()
        self.form.addRow("&Current password", self.current)
        self.form.addRow("&New password", self.new)
        self.form.addRow("&Repeat new password", self.repeat)

        def check() -> None:
            if self.new.text() != self.repeat.text():
                raise UserError("The new passwords differ.")
            change(self.current.text(), self.new.text())

        self.check = check
