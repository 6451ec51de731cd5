"""The main window: navigation, pages, status bar, keyboard shortcuts and the idle lock."""

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.permissions import Scope
from app.services import auth
from app.services.context import Ctx
from app.ui.errors import show_error
from app.ui.icons import icon
from app.ui.ops import bus
from app.ui.shell.lock import IdleWatcher, LockScreen
from app.ui.shell.placeholder import NotYetAvailablePage
from app.ui.shell.sync_status import SyncStatusWidget
from app.ui.signin.dialogs import ChangePasswordDialog
from app.ui.sync.conflicts import ConflictsDialog
from app.ui.sync.runner import SyncRunner


@dataclass(frozen=True)
class Area:
    key: str
    label: str
    icon: str
    available: bool


AREAS = (
    Area("patients", "Patients", "patients", True),
    Area("schedule", "Schedule", "schedule", True),
    Area("chart", "Chart", "chart", True),
    Area("imaging", "Imaging", "imaging", False),
    Area("documents", "Documents", "documents", False),
    Area("admin", "Admin", "admin", True),
)

_COMING = {
    "imaging": "DICOM X-rays and intraoral photos with measurements.",
    "documents": "Treatment plans, consent forms, post-op instructions and statements as PDF.",
}


class LazyPage(QWidget):
    """A page whose real widget (and its imports) is made when first shown or asked for."""

    def __init__(self, factory: Callable[[], QWidget]) -> None:
        super().__init__()
        self._factory = factory
        self._page: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def page(self) -> QWidget:
        if self._page is None:
            self._page = self._factory()
            self._layout.addWidget(self._page)
        return self._page

    def built(self) -> QWidget | None:
        return self._page

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        self.page()
        super().showEvent(event)


class MainWindow(QMainWindow):
    signed_out = Signal()

    def __init__(self, ctx: Ctx) -> None:
        super().__init__()
        from app.ui.patients.page import PatientsPage
        from app.ui.schedule.page import SchedulePage

        assert ctx.actor is not None
        self.ctx = ctx
        self.setWindowTitle(f"Chairside — {ctx.runtime.info.name}")
        self.setWindowIcon(icon("app"))
        self.setMinimumSize(QSize(1100, 700))
        # made here, started by the app (app.py) once the window shows: tests and screenshots stay offline
        self.sync_runner = SyncRunner(ctx.runtime, self)

        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setIconSize(QSize(28, 28))
        self.nav.setFixedWidth(170)
        self.pages = QStackedWidget()
        self.patients = PatientsPage(ctx)
        self.patients.chart_requested.connect(self.open_chart)
        is_admin = bool({Scope.USERS_ADMIN, Scope.AUDIT_READ} & ctx.actor.scopes)
        self._page_index: dict[str, int] = {}
        for area in AREAS:
            if area.key == "admin" and not is_admin:
                continue  # staff without admin scopes never see the admin area
            if area.key == "patients":
                page: QWidget = self.patients
            elif area.key == "admin":
                self._admin_area = LazyPage(self._make_admin_page)
                page = self._admin_area
            elif area.key == "chart":
                self._chart_area = LazyPage(self._make_chart_page)
                page = self._chart_area
            elif area.key == "schedule":
                self.schedule = SchedulePage(ctx)
                self.schedule.open_patient.connect(self.open_patient)
                self.schedule.open_chart.connect(self.open_chart)
                page = self.schedule
            else:
                page = NotYetAvailablePage(area.label, area.icon, _COMING[area.key])
            item = QListWidgetItem(icon(area.icon), area.label if area.available else f"{area.label}\n(coming)")
            item.setData(Qt.ItemDataRole.UserRole, area.key)
            if not area.available:
                item.setForeground(Qt.GlobalColor.gray)
                item.setToolTip(f"{area.label} is not available yet")
            self.nav.addItem(item)
            self._page_index[area.key] = self.pages.addWidget(page)
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)

        work = QWidget()
        row = QHBoxLayout(work)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.nav)
        row.addWidget(self.pages, 1)
        self.lock_screen = LockScreen(self._unlock)
        self.lock_screen.unlocked.connect(self._after_unlock)
        self.lock_screen.sign_out_requested.connect(self.sign_out)
        self.shell = QStackedWidget()
        self.shell.addWidget(work)
        self.shell.addWidget(self.lock_screen)
        self.setCentralWidget(self.shell)
        self._hidden_windows: list[QWidget] = []

        self._build_status_bar()
        self._build_menus()
        self.idle = IdleWatcher(ctx.runtime.policy.idle_lock_minutes * 60_000, self)
        self.idle.idle_timed_out.connect(lambda: self.lock("idle"))
        bus.changes_applied.connect(self._on_changes)
        self._restore_geometry()
        self.go_to("patients")

    def _build_status_bar(self) -> None:
        actor = self.ctx.actor
        assert actor is not None
        self.user_label = QLabel(f"  {actor.display_name} ({actor.role.label})  ")
        self.user_label.setObjectName("statusUser")
        self.station_label = QLabel(f"  Workstation: {self.ctx.runtime.workstation_name}  ")
        self.sync_status = SyncStatusWidget()
        self.sync_status.setObjectName("statusSync")
        self.sync_status.conflicts_requested.connect(self.show_conflicts)
        self.sync_runner.state_changed.connect(self.sync_status.show_state)
        self._conflicts_dialog: ConflictsDialog | None = None
        bar = self.statusBar()
        bar.addWidget(self.user_label)
        bar.addWidget(self.station_label)
        bar.addPermanentWidget(self.sync_status)
        self.sync_runner.refresh()

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self._action(file_menu, "Change &password…", self.change_password)
        self._action(file_menu, "&Lock screen", lambda: self.lock("manual"), "Ctrl+L", "lock")
        self._action(file_menu, "Sign &out", self.sign_out)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        go = menu.addMenu("&Go")
        for n, area in enumerate(AREAS, start=1):
            if area.key in self._page_index:
                self._action(go, area.label, lambda _=False, k=area.key: self.go_to(k), f"Ctrl+{n}", area.icon)
        find = QShortcut(QKeySequence.StandardKey.Find, self)
        find.setContext(Qt.ShortcutContext.ApplicationShortcut)
        find.activated.connect(self.find_patient)

    def _action(self, menu, text, slot, shortcut=None, icon_name=None) -> QAction:  # type: ignore[no-untyped-def]
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _on_changes(self, areas: frozenset[str], origin: object) -> None:
        if "settings" in areas:
            self.idle.set_timeout_ms(self.ctx.runtime.policy.idle_lock_minutes * 60_000)
        if "cloud" in areas:
            self.sync_runner.reconnect()
        elif "sync" in areas and origin is not self.sync_runner:
            self.sync_runner.refresh()  # conflicts resolved or a round run by hand: new counts

    def show_conflicts(self) -> None:
        """The conflicts list, for anyone signed in (choosing needs the record's permission)."""
        if self._conflicts_dialog is None:
            self._conflicts_dialog = ConflictsDialog(self.ctx, self)
        else:
            self._conflicts_dialog.list.refresh()
        self._conflicts_dialog.show()
        self._conflicts_dialog.raise_()
        self._conflicts_dialog.activateWindow()

    def go_to(self, key: str) -> None:
        self.nav.setCurrentRow(self._page_index[key])

    def open_patient(self, patient_id: str) -> None:
        self.go_to("patients")
        self.patients.open_patient(patient_id)

    def _make_chart_page(self) -> QWidget:
        from app.ui.chart.page import ChartPage

        return ChartPage(self.ctx)

    def _make_admin_page(self) -> QWidget:
        from app.ui.admin.page import AdminPage

        return AdminPage(self.ctx, self.sync_runner)

    @property
    def admin(self):  # type: ignore[no-untyped-def]
        """The Admin screen (administrators only), built the first time it is needed."""
        return self._admin_area.page()

    @property
    def chart(self):  # type: ignore[no-untyped-def]
        """The Chart screen, built the first time it is needed (it is not needed to start)."""
        return self._chart_area.page()

    def open_chart(self, patient_id: str) -> None:
        self.go_to("chart")
        self.chart.open_patient(patient_id)

    def find_patient(self) -> None:
        if self.is_locked():
            return
        self.go_to("patients")
        self.patients.focus_search()

    # --- locking -----------------------------------------------------------------------
    def is_locked(self) -> bool:
        return self.shell.currentWidget() is self.lock_screen

    def lock(self, reason: str) -> None:
        if self.is_locked():
            return
        # open dialogs would show patient data over the lock: hide them until unlock
        self._hidden_windows = [
            w for w in QApplication.topLevelWidgets() if w is not self and w.isVisible() and w.isWindow()
        ]
        for w in self._hidden_windows:
            w.hide()
        self.idle.pause()
        self.menuBar().setEnabled(False)
        assert self.ctx.actor is not None
        self.lock_screen.prepare(self.ctx.actor.display_name)
        self.shell.setCurrentWidget(self.lock_screen)
        try:
            auth.record_lock(self.ctx, reason)
        except Exception as e:  # the lock must hold even if the audit write fails
            show_error(self, e)

    def _unlock(self, password: str) -> None:
        auth.unlock(self.ctx, password)

    def _after_unlock(self) -> None:
        self.shell.setCurrentIndex(0)
        self.menuBar().setEnabled(True)
        for w in self._hidden_windows:
            w.show()
        self._hidden_windows = []
        self.idle.resume()

    # --- session -----------------------------------------------------------------------
    def change_password(self) -> None:
        dialog = ChangePasswordDialog(lambda old, new: auth.change_own_password(self.ctx, old, new), self)
        if dialog.exec():
            QMessageBox.information(self, "Password changed", "Your password has been changed.")

    def _confirm_discard(self) -> bool:
        """Unsaved typing anywhere is kept or dropped by the user's choice; perio readings save."""
        chart = self._chart_area.built() if hasattr(self, "_chart_area") else None
        if chart is not None and chart.perio_tab is not None:
            chart.perio_tab.flush()
        notes = chart.notes_tab if chart is not None else None
        return self.patients.confirm_discard() and (notes is None or notes.confirm_discard())

    def sign_out(self) -> None:
        if not self.is_locked() and not self._confirm_discard():
            return
        auth.sign_out(self.ctx)
        self._save_geometry()
        self.idle.pause()
        self._signing_out = True
        self.close()
        self.signed_out.emit()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if not getattr(self, "_signing_out", False):
            if self.is_locked() or not self._confirm_discard():
                event.ignore()
                return
            auth.sign_out(self.ctx)
            self._save_geometry()
        QApplication.instance().removeEventFilter(self.idle)
        self.sync_runner.stop()
        event.accept()

    def _save_geometry(self) -> None:
        settings = QSettings()
        settings.setValue("main_window/geometry", self.saveGeometry())
        settings.setValue("main_window/state", self.saveState())

    def _restore_geometry(self) -> None:
        settings = QSettings()
        geometry = settings.value("main_window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
            self.restoreState(settings.value("main_window/state"))
        else:
            self.resize(1360, 860)
