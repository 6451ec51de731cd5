"""Signing in, unlocking the database with the recovery passphrase, and the security policy."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from app import bootstrap
from app.domain.permissions import Role
from app.services import auth
from tests.conftest import ADMIN_PASSWORD, PASSPHRASE
from tests.ui.conftest import make_window, wait_ops


def press_ok(qtbot, dialog):
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)


def test_sign_in_dialog_explains_a_wrong_password_and_keeps_the_username(qtbot, runtime):
    from app.ui.signin.dialogs import SignInDialog

    signed = []
    dialog = SignInDialog("Test Dental", lambda u, p: signed.append(auth.sign_in(runtime, u, p)))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "admin")
    qtbot.keyClicks(dialog.password, "not-the-password")
    press_ok(qtbot, dialog)
    assert dialog.isVisible()
    assert dialog.message.text() == "Wrong username or password."
    assert dialog.username.text() == "admin" and dialog.password.text() == ""
    qtbot.keyClicks(dialog.password, ADMIN_PASSWORD)
    press_ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert signed[0].username == "admin"


def test_sign_in_dialog_says_when_the_account_is_locked(qtbot, runtime):
    from app.ui.signin.dialogs import SignInDialog

    dialog = SignInDialog("Test Dental", lambda u, p: auth.sign_in(runtime, u, p))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "admin")
    for _ in range(runtime.policy.max_failed_logins):
        qtbot.keyClicks(dialog.password, "wrong-password")
        press_ok(qtbot, dialog)
    qtbot.keyClicks(dialog.password, ADMIN_PASSWORD)
    press_ok(qtbot, dialog)
    assert "locked" in dialog.message.text()
    assert dialog.isVisible()


def test_passphrase_dialog_refuses_a_wrong_passphrase_then_opens_the_clinic(qtbot, runtime, clinic_dir, memory_keyring):
    from app.ui.signin.dialogs import PassphraseDialog

    runtime.close()
    memory_keyring.store.clear()  # a workstation whose keyring lacks the key
    opened = []
    dialog = PassphraseDialog(str(clinic_dir), lambda p: opened.append(bootstrap.open_clinic(clinic_dir, lambda: p)))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.passphrase, "the wrong passphrase")
    press_ok(qtbot, dialog)
    assert dialog.message.text() == "That recovery passphrase is not this clinic's."
    dialog.passphrase.clear()
    qtbot.keyClicks(dialog.passphrase, PASSPHRASE)
    press_ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert opened[0].info.name == "Test Dental"
    opened[0].close()


def test_security_policy_changes_apply_at_once(qtbot, staff, runtime):
    window = make_window(qtbot, staff[Role.ADMINISTRATOR])
    window.go_to("admin")
    panel = window.admin.security
    panel.spins["idle_lock_minutes"].setValue(5)
    panel.spins["max_failed_logins"].setValue(3)
    panel.save()
    wait_ops(qtbot)
    assert panel.message.text() == "Saved."
    assert runtime.policy.idle_lock_minutes == 5 and runtime.policy.max_failed_logins == 3
    assert window.idle._timer.interval() == 5 * 60_000
    runtime.close()
    reopened = bootstrap.open_clinic(runtime.data_dir, lambda: PASSPHRASE)
    assert reopened.policy.idle_lock_minutes == 5, "the policy is stored with the clinic"
    reopened.close()


def test_staff_without_admin_scopes_do_not_see_the_admin_area(qtbot, staff):
    window = make_window(qtbot, staff[Role.RECEPTIONIST])
    labels = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert "Admin" not in labels and "Patients" in labels
