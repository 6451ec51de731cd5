"""Admin → Cloud: connect this workstation to the clinic's cloud service, see its sync, resolve conflicts."""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import UserError
from app.services import cloud, sync
from app.services.context import Ctx
from app.services.sync_background import SyncState
from app.ui.errors import show_error
from app.ui.ops import bus, run_op
from app.ui.shell.sync_status import describe, local_time
from app.ui.sync.conflicts import ConflictsList
from app.ui.sync.runner import SyncRunner

ENROLMENT = frozenset({"cloud"})  # the connection itself changed: the main window restarts sync

_STAGES = {"push": "Sending this clinic's records to the cloud… {:,} sent", "pull": "Receiving changes… {:,} received"}


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #5F6B73;")
    return label


class CloudPanel(QWidget):
    progress = Signal(str, int)  # emitted by the connecting thread; shown on the GUI thread

    def __init__(self, ctx: Ctx, runner: SyncRunner | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.runner = runner or SyncRunner(ctx.runtime, self)
        self.pages = QStackedWidget()
        self.connect_page = self._build_connect_page()
        self.connected_page = self._build_connected_page()
        self.pages.addWidget(self.connect_page)
        self.pages.addWidget(self.connected_page)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # no end known: a moving bar while the cloud answers
        self.busy.setMaximumWidth(240)
        self.busy.hide()
        self.message = QLabel()
        self.message.setObjectName("cloudMessage")
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.busy)
        layout.addWidget(self.message)
        self.progress.connect(self._progressed)
        self.runner.state_changed.connect(self._show_state)
        bus.changes_applied.connect(self._on_changes)
        self.show_connection()

    # --- building ------------------------------------------------------------------------

    def _build_connect_page(self) -> QWidget:
        self.address = QLineEdit()
        self.address.setObjectName("cloudAddress")
        self.address.setPlaceholderText("https://cloud.example-dental.com")
        self.code = QLineEdit()
        self.code.setObjectName("enrolCode")
        self.code.setPlaceholderText("e.g. 7KQ2-M9XD-4TPA")
        self.ca_bundle = QLineEdit()
        self.ca_bundle.setObjectName("caBundle")
        self.ca_bundle.setPlaceholderText("Optional: only if your network replaces certificates (TLS inspection)")
        choose = QPushButton("Choose…")
        choose.clicked.connect(lambda: self._pick_bundle(self.ca_bundle.setText))
        bundle_row = QHBoxLayout()
        bundle_row.addWidget(self.ca_bundle, 1)
        bundle_row.addWidget(choose)
        self.connect_button = QPushButton("Connect this workstation")
        self.connect_button.setObjectName("connectCloud")
        self.connect_button.clicked.connect(self.connect_workstation)
        # shown only when enrolling again (revoked, or the token lost): back to the connection's page
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.show_connection)
        buttons = QHBoxLayout()
        buttons.addWidget(self.connect_button, 1)
        buttons.addWidget(self.cancel_button)
        fields = QWidget()
        fields.setMaximumWidth(760)  # an address and a code: no need for the whole screen's width
        form = QFormLayout(fields)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Cloud address", self.address)
        form.addRow("Enrolment code", self.code)
        form.addRow("CA bundle", bundle_row)
        form.addRow("", buttons)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(
            _note(
                "This workstation works on its own until it is connected. Connected, it sends its changes to "
                "the clinic's cloud service and receives the other workstations' (every few minutes, and at "
                "once when something changes). Ask your cloud administrator for the address and a one-time "
                "enrolment code."
            )
        )
        layout.addWidget(fields)
        layout.addStretch()
        return page

    def _build_connected_page(self) -> QWidget:
        self.shown: dict[str, QLabel] = {}
        form = QFormLayout()
        for key, label in (
            ("state", "Status"),
            ("url", "Cloud address"),
            ("device", "This workstation's device id"),
            ("bundle", "Certificates"),
            ("last", "Last successful sync"),
            ("pending", "Changes waiting to be sent"),
            ("conflicts", "Conflicts to resolve"),
            ("audit", "Audit events waiting to be sent"),
        ):
            value = QLabel()
            value.setObjectName(f"cloud_{key}")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # to copy for support
            self.shown[key] = value
            form.addRow(label, value)
        self.sync_button = QPushButton("Sync now")
        self.sync_button.setObjectName("syncNow")
        self.sync_button.clicked.connect(self.sync_now)
        self.bundle_button = QPushButton("Change CA bundle…")
        self.bundle_button.clicked.connect(lambda: self._pick_bundle(self.set_bundle))
        self.system_certs = QPushButton("Use the system's certificates")
        self.system_certs.clicked.connect(lambda: self.set_bundle(None))
        self.reenrol_button = QPushButton("Enrol again…")
        self.reenrol_button.setToolTip("With a new code, after this workstation was revoked or lost its token")
        self.reenrol_button.clicked.connect(self.enrol_again)
        self.disconnect_button = QPushButton("Disconnect…")
        self.disconnect_button.setObjectName("disconnectCloud")
        self.disconnect_button.clicked.connect(self.disconnect_cloud)
        actions = QHBoxLayout()
        for button in (
            self.sync_button,
            self.bundle_button,
            self.system_certs,
            self.reenrol_button,
            self.disconnect_button,
        ):
            actions.addWidget(button)
        actions.addStretch()
        self.conflicts = ConflictsList(self.ctx)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addLayout(actions)
        layout.addSpacing(12)
        layout.addWidget(QLabel("<b>Conflicts</b>"))
        layout.addWidget(self.conflicts, 1)
        return page

    # --- showing -------------------------------------------------------------------------

    def show_connection(self) -> None:
        """The connect form, or the connection's details, as the stored settings say."""
        s = cloud.read_settings(self.ctx.runtime, cloud.URL, cloud.DEVICE_ID, cloud.CA_BUNDLE)
        self.cancel_button.hide()
        if cloud.URL not in s:
            self.pages.setCurrentWidget(self.connect_page)
            return
        self.shown["url"].setText(s[cloud.URL])
        self.shown["device"].setText(s.get(cloud.DEVICE_ID, ""))
        bundle = s.get(cloud.CA_BUNDLE)
        self.shown["bundle"].setText(bundle or "The system's trusted certificates")
        self.system_certs.setVisible(bool(bundle))
        self.pages.setCurrentWidget(self.connected_page)
        self.runner.refresh()

    def _show_state(self, state: SyncState) -> None:
        self.shown["state"].setText(describe(state).text)
        self.shown["last"].setText(local_time(state.last_ok) if state.last_ok else "Not yet")
        self.shown["pending"].setText(str(state.pending))
        self.shown["conflicts"].setText(str(state.conflicts))
        self.shown["audit"].setText(str(state.audit_unsent))

    def say(self, text: str, ok: bool = True) -> None:
        self.message.setStyleSheet(f"color: {'#1B5E20' if ok else '#B3261E'};")
        self.message.setText(text)

    def _working(self, text: str | None) -> None:
        """A busy bar and words while the cloud is asked; None when it answered."""
        self.busy.setVisible(text is not None)
        for button in (self.connect_button, self.cancel_button, self.sync_button, self.reenrol_button):
            button.setEnabled(text is None)
        for button in (self.bundle_button, self.system_certs, self.disconnect_button):
            button.setEnabled(text is None)
        if text is not None:
            self.say(text)

    def _progressed(self, stage: str, count: int) -> None:
        if self.busy.isVisible() and stage in _STAGES:
            self.say(_STAGES[stage].format(count))

    def _failed(self, error: Exception) -> None:
        self._working(None)
        if isinstance(error, UserError):  # wrong code, unreachable, refused: the service's own words
            self.say(str(error), ok=False)
            return
        self.say("")
        show_error(self, error)

    def _on_changes(self, areas: frozenset[str], origin: object) -> None:
        if "cloud" in areas and origin is not self:
            self.show_connection()

    # --- actions -------------------------------------------------------------------------

    def connect_workstation(self) -> None:
        url, code, bundle = self.address.text().strip(), self.code.text().strip(), self.ca_bundle.text().strip()
        if not url or not code:
            self.say("Type the cloud address and the enrolment code first.", ok=False)
            return
        runtime = self.ctx.runtime

        def connect() -> sync.SyncReport | sync.SyncFailed:
            sync.connect_clinic(runtime, url, code, ca_bundle=bundle or None)
            try:
                return sync.run_once(runtime, progress=self.progress.emit)
            except sync.SyncFailed as failed:  # connected; the first round finishes in the background
                return failed

        self._working("Connecting to the cloud…")
        run_op(connect, self._connected, self._failed, changes=ENROLMENT, origin=self)

    def _connected(self, outcome: sync.SyncReport | sync.SyncFailed) -> None:
        self._working(None)
        self.code.clear()
        self.show_connection()
        if isinstance(outcome, sync.SyncFailed):
            self.say(f"Connected, but the first sync did not finish: {outcome} It will try again.", ok=False)
        else:
            self.say(f"Connected. {outcome.pushed:,} records sent, {outcome.pulled:,} received.")

    def sync_now(self) -> None:
        self._working("Syncing…")
        run_op(self.runner.sync_now, self._synced, self._failed, changes=frozenset({"sync"}), origin=self)

    def _synced(self, report: sync.SyncReport) -> None:
        self._working(None)
        found = f" {len(report.conflicts)} new conflict(s) are listed below." if report.conflicts else ""
        self.say(f"Synced: {report.pushed:,} sent, {report.pulled:,} received.{found}")

    def _pick_bundle(self, use) -> None:  # type: ignore[no-untyped-def]
        path, _ = QFileDialog.getOpenFileName(
            self, "CA bundle for the cloud connection", "", "Certificates (*.pem *.crt *.cer);;All files (*)"
        )
        if path:
            use(path)

    def set_bundle(self, path: str | None) -> None:
        runtime = self.ctx.runtime
        run_op(
            lambda: cloud.set_ca_bundle(runtime, path),
            lambda _r: self._changed("The cloud connection now trusts " + (path or "the system's certificates") + "."),
            self._failed,
            changes=ENROLMENT,
            origin=self,
        )

    def enrol_again(self) -> None:
        """The connect form over the same connection: the service keeps what is pending and the clinic."""
        s = cloud.read_settings(self.ctx.runtime, cloud.URL, cloud.CA_BUNDLE)
        self.address.setText(s.get(cloud.URL, ""))
        self.ca_bundle.setText(s.get(cloud.CA_BUNDLE, ""))
        self.code.clear()
        self.cancel_button.show()
        self.pages.setCurrentWidget(self.connect_page)
        self.code.setFocus()

    def disconnect_cloud(self) -> None:
        pending = self.runner.state.pending
        answer = QMessageBox.question(
            self,
            "Disconnect from the cloud",
            "Stop syncing this workstation? Its records stay here"
            + (f", and its {pending} unsent change(s) wait" if pending else "")
            + " until it is connected again with a new enrolment code.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        runtime = self.ctx.runtime
        run_op(
            lambda: cloud.forget(runtime),
            lambda _r: self._changed("Disconnected. This workstation works on its own now."),
            self._failed,
            changes=ENROLMENT,
            origin=self,
        )

    def _changed(self, text: str) -> None:
        self.show_connection()
        self.say(text)
