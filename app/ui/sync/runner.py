"""Background cloud sync for the desktop: the service's SyncWorker, reporting to the GUI thread.

The worker calls back on its own threads; everything reaches widgets through this QObject's
signals (queued onto the GUI thread). A round that brought rows from other workstations
tells every open screen to re-read, as a local save does.
"""

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.domain.errors import UserError
from app.services import cloud, sync
from app.services.runtime import ClinicRuntime
from app.services.sync_background import SyncState, SyncWorker
from app.ui.ops import bus, run_op

# what pulled rows can change: every area a screen re-reads on (see the run_op calls)
PULLED_AREAS = frozenset(
    "patients appointments chart perio recalls messages catalogue staff schedule_setup settings sync".split()
)


class _Worker(SyncWorker):
    """The service's worker, also saying when a round brought other workstations' changes."""

    def __init__(self, runtime: ClinicRuntime, on_state: Callable[[SyncState], None], on_pulled: Callable[[], None]):
        super().__init__(runtime, on_state)
        self.on_pulled: Callable[[], None] | None = on_pulled

    def round(self) -> sync.SyncReport | None:
        report = super().round()
        notify = self.on_pulled  # read once: a stopping runner may clear it meanwhile
        if report is not None and (report.pulled or report.conflicts) and notify is not None:
            notify()
        return report


class SyncRunner(QObject):
    """One per main window; `start()` (the app does, not tests) syncs in the background while enrolled."""

    state_changed = Signal(object)  # SyncState, delivered on the GUI thread
    _rows_pulled = Signal()

    def __init__(self, runtime: ClinicRuntime, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runtime = runtime
        self.state = SyncState("local")
        self.wanted = False  # start() was called: keep a worker running whenever enrolled
        self._running = False
        self._worker = self._new_worker()
        self.state_changed.connect(self._remember)
        self._rows_pulled.connect(lambda: bus.changes_applied.emit(PULLED_AREAS, self))

    def _new_worker(self) -> _Worker:
        return _Worker(self.runtime, self.state_changed.emit, self._rows_pulled.emit)

    def _remember(self, state: SyncState) -> None:
        self.state = state

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        self.wanted = True
        self._begin()

    def _begin(self) -> None:
        if not self.wanted or self._running:
            return
        try:
            config = cloud.load(self.runtime)
        except cloud.NotEnrolled as refused:  # enrolled once, but the token is gone from the keyring
            self.state_changed.emit(SyncState("refused", message=str(refused)))
            return
        if config is None:
            self.state_changed.emit(SyncState("local"))
            return
        self._worker = self._new_worker()
        self._worker.start()
        self._running = True

    def stop(self, *, wait: bool = False) -> None:
        """Stop syncing; safe to call more than once.

        A round in progress may be waiting on the network (up to its timeout), so signing out
        or closing the window does not wait for it: it ends on its own thread and tells
        nobody. `wait`: the application is quitting and its windows are gone already.
        """
        self.wanted = False
        if not self._running:
            return
        self._running = False
        worker = self._worker
        worker.on_state, worker.on_pulled = None, None
        if wait:
            worker.stop()
        else:
            run_op(worker.stop, lambda _r: None, lambda _e: None)

    def reconnect(self) -> None:
        """The connection changed (connected, disconnected, new CA bundle): go on with the new one."""
        if not self._running:
            self._begin() if self.wanted else self.refresh()
            return
        old, self._running = self._worker, False
        self._worker = self._new_worker()
        # a round in progress can take a while to end: not on the GUI thread
        run_op(old.stop, lambda _r: self._begin(), lambda _e: self._begin())

    def refresh(self) -> None:
        """Publish the state now (after conflicts were resolved, or for a window without sync running)."""
        run_op(self._worker.watch, lambda _r: None, lambda _e: None)

    def sync_now(self) -> sync.SyncReport:
        """One round at once; call it off the GUI thread. Through the worker when it runs, so rounds never overlap."""
        worker = self._worker
        if not self._running:
            report = sync.run_once(self.runtime)
            if report.pulled or report.conflicts:
                self._rows_pulled.emit()
            worker.watch()
            return report
        done = worker.round()
        if done is None:
            raise UserError(worker.state.message or "Sync did not finish; it will try again.")
        return done
