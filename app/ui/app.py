"""Starting the desktop app: unlock the database, sign in, show the main window."""

import os
import sys
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app import bootstrap
from app.domain.errors import UserError
from app.services import auth, patients
from app.services.context import Actor, Ctx
from app.services.runtime import ClinicRuntime
from app.ui.icons import icon
from app.ui.ops import collect_garbage_on_gui_thread, run_op
from app.ui.signin.dialogs import PassphraseDialog, SignInDialog


def make_app() -> QApplication:
    # fractional scaling (125 %, 150 %) as the screen asks, with crisp SVG icons
    QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    QApplication.setOrganizationName("Chairside")
    QApplication.setApplicationName("Chairside")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setStyle("Fusion")
    app.setWindowIcon(icon("app"))
    collect_garbage_on_gui_thread(app)
    return app


def _non_interactive_passphrase(passphrase_file: str | None) -> str | None:
    if passphrase_file:
        return Path(passphrase_file).read_text(encoding="utf-8").rstrip("\r\n")
    return os.environ.get("CHAIRSIDE_RECOVERY_PASSPHRASE") or None


def open_runtime(data_dir: Path, passphrase_file: str | None) -> ClinicRuntime | None:
    """Open the clinic; ask for the recovery passphrase only when the keyring can't help."""
    try:
        return bootstrap.open_clinic(data_dir, lambda: _non_interactive_passphrase(passphrase_file))
    except bootstrap.PassphraseNeeded:
        pass
    opened: list[ClinicRuntime] = []

    def attempt(passphrase: str) -> None:
        opened.append(bootstrap.open_clinic(data_dir, lambda: passphrase))

    dialog = PassphraseDialog(str(data_dir), attempt)
    return opened[0] if dialog.exec() and opened else None


def sign_in(runtime: ClinicRuntime) -> Actor | None:
    signed: list[Actor] = []
    dialog = SignInDialog(runtime.info.name, lambda u, p: signed.append(auth.sign_in(runtime, u, p)))
    return signed[-1] if dialog.exec() and signed else None


def show_main_window(runtime: ClinicRuntime, actor: Actor):  # type: ignore[no-untyped-def]
    from app.ui.shell.main_window import MainWindow

    ctx = Ctx(runtime, actor)
    window = MainWindow(ctx)
    window.show()
    # build the search index now, so the first keystroke is as quick as the rest
    run_op(lambda: patients.warm_search(ctx), lambda _n: None, lambda _e: None)
    _start_background(runtime, window)
    _start_sync(window)
    return window


def _start_background(runtime: ClinicRuntime, window) -> None:  # type: ignore[no-untyped-def]
    """Reminder scans and the outbox on the sending workstation; the nightly backup job
    wherever a backup could go (it backs up on the night where backup_schedule.runs_here
    then, so choosing another workstation needs no restart); nothing on the others."""
    from app.services import backup_schedule
    from app.services.messaging.settings import transports_from_env

    transports = transports_from_env()
    nightly = backup_schedule.has_destination(runtime)
    if not transports and not nightly:
        return
    from app.services.background import start_background

    jobs = start_background(runtime, transports, nightly_backup=nightly)
    window.signed_out.connect(jobs.stop)
    QApplication.instance().aboutToQuit.connect(jobs.stop)


def _start_sync(window) -> None:  # type: ignore[no-untyped-def]
    """Cloud sync in the background while this workstation is enrolled; the status bar shows how it goes."""
    runner = window.sync_runner
    runner.start()  # not enrolled: the bar says "local only"; a lost token: "refused", with what to do
    window.signed_out.connect(runner.stop)
    app = QApplication.instance()
    assert app is not None
    app.aboutToQuit.connect(lambda: runner.stop(wait=True))


def _bench_startup(runtime: ClinicRuntime, app: QApplication) -> int:
    """`chairside bench` times start-up to a usable window through this path."""
    actor = auth.sign_in(
        runtime, os.environ.get("CHAIRSIDE_BENCH_USER", "admin"), os.environ["CHAIRSIDE_BENCH_PASSWORD"]
    )
    window = show_main_window(runtime, actor)

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        window.sign_out()
        app.quit()

    QTimer.singleShot(0, ready)
    return app.exec()


def run(data_dir: Path, passphrase_file: str | None = None) -> int:
    app = make_app()
    try:
        runtime = open_runtime(data_dir, passphrase_file)
    except UserError as e:
        QMessageBox.critical(None, "Chairside cannot open the clinic", str(e))
        sys.stderr.write(f"chairside: {e}\n")
        return 2
    if runtime is None:
        return 2
    try:
        if os.environ.get("CHAIRSIDE_BENCH_STARTUP"):
            return _bench_startup(runtime, app)
        signed_out: list[bool] = []
        while True:
            actor = sign_in(runtime)
            if actor is None:
                return 0
            window = show_main_window(runtime, actor)
            signed_out.clear()
            window.signed_out.connect(lambda: signed_out.append(True))
            app.exec()
            if not signed_out:
                return 0
    finally:
        # destroy windows while Qt is still whole, not during interpreter shutdown
        for widget in QApplication.topLevelWidgets():
            widget.deleteLater()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        runtime.close()
