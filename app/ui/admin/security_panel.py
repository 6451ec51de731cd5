"""The clinic's security policy: idle lock and sign-in lock-out."""

from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from app.services import clinic_settings
from app.services.context import Ctx
from app.ui.errors import show_error
from app.ui.ops import run_op


class SecurityPanel(QWidget):
    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        policy = clinic_settings.security_policy(ctx)
        self.spins: dict[str, QSpinBox] = {}
        form = QFormLayout()
        suffixes = {"idle_lock_minutes": " min", "max_failed_logins": " attempts", "lockout_minutes": " min"}
        for key, (low, high, label) in clinic_settings.LIMITS.items():
            spin = QSpinBox()
            spin.setObjectName(key)
            spin.setRange(low, high)
            spin.setSuffix(suffixes[key])
            spin.setValue(getattr(policy, key))
            self.spins[key] = spin
            form.addRow(label, spin)
        save = QPushButton("Save policy")
        save.setObjectName("savePolicy")
        save.clicked.connect(self.save)
        self.message = QLabel()
        note = QLabel(
            "The screen locks after the idle time; an account locks after the failed sign-ins "
            "for the lock-out length. Changes apply at once."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #5F6B73;")
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(save)
        layout.addWidget(self.message)
        layout.addStretch()

    def save(self) -> None:
        values = {k: s.value() for k, s in self.spins.items()}
        run_op(
            lambda: clinic_settings.set_security_policy(self.ctx, **values),
            lambda _r: self.message.setText("Saved."),
            lambda e: show_error(self, e),
            changes=frozenset({"settings"}),
            origin=self,
        )
