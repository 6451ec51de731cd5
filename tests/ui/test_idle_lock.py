"""The screen locks when idle, hides patient data, and gives back the work untouched."""

from PySide6.QtCore import Qt

from app.domain.permissions import Role
from tests.conftest import STAFF_PASSWORD
from tests.ui.conftest import make_window, wait_ops


def test_idle_lock_covers_the_form_and_unlock_keeps_typed_text(qtbot, staff):
    window = make_window(qtbot, staff[Role.RECEPTIONIST])
    form = window.patients.form
    qtbot.keyClicks(form.fields["first_name"], "Half-typed")
    qtbot.keyClicks(form.fields["notes"], "Called about Tuesday")
    window.idle.set_timeout_ms(150)

    qtbot.waitUntil(window.is_locked, timeout=3000)
    assert window.shell.currentWidget() is window.lock_screen
    assert not form.isVisible()
    assert "Locked" in window.lock_screen.title.text()

    qtbot.keyClicks(window.lock_screen.password, "wrong-password")
    qtbot.keyClick(window.lock_screen.password, Qt.Key.Key_Return)
    assert window.is_locked()
    assert "Wrong password" in window.lock_screen.message.text()

    qtbot.keyClicks(window.lock_screen.password, STAFF_PASSWORD)
    qtbot.keyClick(window.lock_screen.password, Qt.Key.Key_Return)
    assert not window.is_locked()
    assert form.isVisible()
    assert form.fields["first_name"].text() == "Half-typed"
    assert form.notes.toPlainText() == "Called about Tuesday"
    window._signing_out = True
    wait_ops(qtbot)


def test_lock_and_unlock_are_audited(qtbot, staff, runtime):
    from app.services import audit

    window = make_window(qtbot, staff[Role.DENTIST])
    window.lock("manual")
    qtbot.keyClicks(window.lock_screen.password, STAFF_PASSWORD)
    qtbot.keyClick(window.lock_screen.password, Qt.Key.Key_Return)
    rows = audit.list_events(staff[Role.ADMINISTRATOR], audit.AuditFilter(user_id=staff[Role.DENTIST].actor.user_id))
    actions = [r.action for r in rows]
    assert "auth.screen_locked" in actions and "auth.screen_unlocked" in actions
    window._signing_out = True


def test_repeated_wrong_unlocks_lock_the_account(qtbot, staff, runtime):
    runtime.policy.max_failed_logins = 3
    window = make_window(qtbot, staff[Role.HYGIENIST])
    window.lock("manual")
    for _ in range(3):
        qtbot.keyClicks(window.lock_screen.password, "nope-nope-nope")
        qtbot.keyClick(window.lock_screen.password, Qt.Key.Key_Return)
    assert "locked" in window.lock_screen.message.text().lower()
    qtbot.keyClicks(window.lock_screen.password, STAFF_PASSWORD)
    qtbot.keyClick(window.lock_screen.password, Qt.Key.Key_Return)
    assert window.is_locked(), "the right password must not open a locked-out account"
    window._signing_out = True


def test_open_dialogs_are_hidden_while_locked(qtbot, window):
    from PySide6.QtWidgets import QDialog

    dialog = QDialog(window)
    dialog.setWindowTitle("Some patient dialog")
    dialog.show()
    window.lock("manual")
    assert not dialog.isVisible()
    window._after_unlock()
    assert dialog.isVisible()
    dialog.close()
