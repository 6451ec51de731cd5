"""Running service calls off the GUI thread and telling screens what changed.

Like Anki's CollectionOp/QueryOp: the work runs on a QThreadPool, the result comes back to
the GUI thread through a queued signal, and one `changes_applied` signal lets each screen
redraw only when an area it shows has changed.
"""

import gc
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThreadPool, QTimer, Signal

GC_INTERVAL_MS = 10_000


class ChangeBus(QObject):
    """Broadcasts the areas ('patients', 'staff', 'audit', ...) a finished operation changed."""

    changes_applied = Signal(frozenset, object)  # areas, the widget that caused it


bus = ChangeBus()


class _Relay(QObject):
    finished = Signal(object)
    failed = Signal(object)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.fn, self.relay = fn, relay

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as e:  # handed to the GUI thread's error handler
            self.relay.failed.emit(e)
        else:
            self.relay.finished.emit(result)


_in_flight: set[_Relay] = set()


def run_op(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[Exception], None],
    *,
    changes: frozenset[str] = frozenset(),
    origin: object = None,
) -> None:
    """Run fn on a worker thread; on_done/on_error run on the GUI thread afterwards."""
    # owned by the application and freed with deleteLater: a relay must never be destroyed
    # while its own queued signal is being delivered
    relay = _Relay(QCoreApplication.instance())
    _in_flight.add(relay)

    def finish() -> None:
        _in_flight.discard(relay)
        relay.deleteLater()

    def done(result: Any) -> None:
        finish()
        on_done(result)
        if changes:
            bus.changes_applied.emit(changes, origin)

    def failed(error: Exception) -> None:
        finish()
        on_error(error)

    relay.finished.connect(done)
    relay.failed.connect(failed)
    QThreadPool.globalInstance().start(_Task(fn, relay))


def busy() -> bool:
    """True while any operation is still running (tests wait on this)."""
    return bool(_in_flight)


def collect_garbage_on_gui_thread(app: QCoreApplication) -> None:
    """Run Python's cycle collector only here, on the GUI thread, as Anki does.

    Left automatic, it runs on whichever thread happens to allocate, and a worker thread that
    frees a cycle holding a Qt widget destroys that widget off the GUI thread: a crash.
    """
    if not gc.isenabled():
        return  # already collecting here
    gc.disable()
    timer = QTimer(app)
    timer.setInterval(GC_INTERVAL_MS)
    timer.timeout.connect(gc.collect)
    timer.start()
