"""Fixtures for driving the real widgets offscreen with pytest-qt."""

import gc

import pytest
from PySide6.QtCore import QEvent, QThreadPool
from PySide6.QtWidgets import QApplication

from app.ui import ops


@pytest.fixture(scope="session", autouse=True)
def _collect_garbage_on_the_gui_thread():  # type: ignore[no-untyped-def]
    # as the app does (app/ui/ops.py): a cycle freed by a worker thread must never take a
    # widget with it; each test's teardown collects here instead
    gc.disable()
    yield
    gc.enable()


@pytest.fixture(autouse=True)
def _qt_identity(qapp: QApplication):  # type: ignore[no-untyped-def]
    # QSettings lands under XDG_CONFIG_HOME, which the root conftest points at the test folder
    QApplication.setOrganizationName("Chairside")
    QApplication.setApplicationName("Chairside-tests")
    yield
    # no worker may outlive its test's database
    QThreadPool.globalInstance().waitForDone(10_000)
    # nor any window its test: leftovers destroyed at interpreter exit crash Qt
    for widget in QApplication.topLevelWidgets():
        widget._signing_out = True  # type: ignore[attr-defined]
        widget.close()
        widget.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    gc.collect()


@pytest.fixture(autouse=True)
def message_boxes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Message boxes shown during a test, as (kind, text); offscreen, a real modal would hang."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[tuple[str, str]] = []
    answers = {
        "warning": QMessageBox.StandardButton.Ok,
        "critical": QMessageBox.StandardButton.Ok,
        "information": QMessageBox.StandardButton.Ok,
        "question": QMessageBox.StandardButton.Discard,
    }
    for kind, answer in answers.items():

        def record(*args, _kind=kind, _answer=answer, **kwargs):  # type: ignore[no-untyped-def]
            shown.append((_kind, str(args[2]) if len(args) > 2 else ""))
            return _answer

        monkeypatch.setattr(QMessageBox, kind, staticmethod(record))
    monkeypatch.setattr(QMessageBox, "exec", lambda self: shown.append(("exec", self.text())) or 0)
    return shown


def wait_ops(qtbot) -> None:  # type: ignore[no-untyped-def]
    """Wait until every background operation has reported back to the GUI thread."""
    qtbot.waitUntil(lambda: not ops.busy(), timeout=10_000)


def make_window(qtbot, ctx):  # type: ignore[no-untyped-def]
    from app.ui.shell.main_window import MainWindow

    window = MainWindow(ctx)
    # at teardown, close without the unsaved-changes question (a modal would hang offscreen)
    qtbot.addWidget(window, before_close_func=lambda w: setattr(w, "_signing_out", True))
    window.show()
    qtbot.waitExposed(window)
    wait_ops(qtbot)
    return window


@pytest.fixture
def window(qtbot, staff):  # type: ignore[no-untyped-def]
    """The main window for the administrator."""
    from app.domain.permissions import Role

    w = make_window(qtbot, staff[Role.ADMINISTRATOR])
    yield w
    w._signing_out = True  # skip the unsaved-changes question at teardown
    wait_ops(qtbot)
