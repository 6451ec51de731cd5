"""Staff accounts: add, disable or enable, change role, reset password."""

from collections.abc import Callable

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain.permissions import Role
from app.services import users
from app.services.context import Ctx
from app.services.users import NewStaff, StaffSummary
from app.ui.errors import show_error
from app.ui.icons import icon
from app.ui.ops import run_op
from app.ui.signin.dialogs import _CheckedDialog


class AddStaffDialog(_CheckedDialog):
    """Collects a new account's details and hands them to `submit`, which may refuse them."""

    def __init__(self, submit: Callable[[NewStaff], object], parent: QWidget | None = None) -> None:
        super().__init__("Add staff account", parent)
        self.username = QLineEdit()
        self.username.setObjectName("newUsername")
        self.display_name = QLineEdit()
        self.display_name.setObjectName("newDisplayName")
        self.role = QComboBox()
        self.role.setObjectName("newRole")
        for role in Role:
            self.role.addItem(role.label, role.value)
        self.password = QLineEdit()
        self.password.setObjectName("newPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.licence = QLineEdit()
        self.form.addRow("&Username", self.username)
        self.form.addRow("&Full name", self.display_name)
        self.form.addRow("&Role", self.role)
        self.form.addRow("Initial &password", self.password)
        self.form.addRow("Licence no. (clinicians)", self.licence)
        self.check = lambda: submit(
            NewStaff(
                self.username.text(),
                self.display_name.text(),
                Role(self.role.currentData()),
                self.password.text(),
                self.licence.text(),
            )
        )


class UsersPanel(QWidget):
    HEADERS = ("Name", "Username", "Role", "Status", "Licence no.")

    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.staff: list[StaffSummary] = []
        self.table = QTableWidget(0, len(self.HEADERS))
        self.table.setObjectName("staffTable")
        self.table.setHorizontalHeaderLabels(self.HEADERS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        add = QPushButton(icon("add"), "Add staff…")
        add.setObjectName("addStaff")
        add.clicked.connect(self.add)
        self.toggle_button = QPushButton("Disable")
        self.toggle_button.setObjectName("toggleStaff")
        self.toggle_button.clicked.connect(self.toggle_active)
        role = QPushButton("Change role…")
        role.clicked.connect(self.change_role)
        reset = QPushButton("Reset password…")
        reset.clicked.connect(self.reset_password)
        buttons = QHBoxLayout()
        for b in (add, self.toggle_button, role, reset):
            buttons.addWidget(b)
        buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.table)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.refresh()

    def refresh(self) -> None:
        run_op(lambda: users.list_staff(self.ctx), self._show, lambda e: show_error(self, e))

    def _show(self, staff: list[StaffSummary]) -> None:
        self.staff = staff
        self.table.setRowCount(len(staff))
        for row, s in enumerate(staff):
            status = "Active" if s.active else "Disabled"
            if s.locked:
                status += " (locked out)"
            for col, text in enumerate((s.display_name, s.username, s.role.label, status, s.licence_no)):
                self.table.setItem(row, col, QTableWidgetItem(text))

    def _selected(self) -> StaffSummary | None:
        row = self.table.currentRow()
        return self.staff[row] if 0 <= row < len(self.staff) else None

    def _selection_changed(self) -> None:
        s = self._selected()
        self.toggle_button.setText("Enable" if s and not s.active else "Disable")

    def _run(self, fn) -> None:  # type: ignore[no-untyped-def]
        run_op(fn, lambda _r: self.refresh(), lambda e: show_error(self, e), changes=frozenset({"staff"}))

    def add(self) -> None:
        dialog = AddStaffDialog(lambda new: users.add_staff(self.ctx, new), self)
        if dialog.exec():
            self.refresh()

    def toggle_active(self) -> None:
        s = self._selected()
        if s is not None:
            self._run(lambda: users.set_active(self.ctx, s.id, not s.active))

    def change_role(self) -> None:
        s = self._selected()
        if s is None:
            return
        labels = [r.label for r in Role]
        label, ok = QInputDialog.getItem(
            self, "Change role", f"Role for {s.display_name}:", labels, labels.index(s.role.label), False
        )
        if ok:
            role = next(r for r in Role if r.label == label)
            self._run(lambda: users.set_role(self.ctx, s.id, role))

    def reset_password(self) -> None:
        s = self._selected()
        if s is None:
            return
        password, ok = QInputDialog.getText(
            self, "Reset password", f"New password for {s.display_name}:", QLineEdit.EchoMode.Password
        )
        if ok:
            self._run(lambda: users.reset_password(self.ctx, s.id, password))
