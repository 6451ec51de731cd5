"""Sync in the background (APScheduler): every few minutes, right after local changes, and as
soon as the cloud says another workstation changed something. Offline, changes wait in the
change log (it survives restarts) and rounds back off exponentially."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from threading import Event, Lock

from apscheduler.schedulers.background import BackgroundScheduler

from app.services import cloud, sync
from app.services.runtime import ClinicRuntime
from sync.client import CloudClient
from sync.events import Backoff, ChangeListener

log = logging.getLogger(__name__)

ROUND_JOB, WATCH_JOB = "sync-round", "sync-watch"


@dataclass(frozen=True)
class SyncState:
    """What the status bar shows."""

    kind: str  # "synced", "syncing", "pending", "offline", "conflicts", "refused", "local"
    pending: int = 0
    conflicts: int = 0
    message: str = ""
    last_ok: datetime | None = None
    retry_at: datetime | None = None
    audit_unsent: int = 0  # audit events the cloud has not acknowledged


class SyncWorker:
    def __init__(
        self,
        runtime: ClinicRuntime,
        on_state: Callable[[SyncState], None] | None = None,
        *,
        interval: timedelta = timedelta(minutes=3),
        watch: timedelta = timedelta(seconds=2),
        backoff: Backoff | None = None,
    ) -> None:
        self.runtime = runtime
        self.on_state = on_state
        self.interval = interval
        self.watch_every = watch
        self.backoff = backoff or Backoff(first=5.0, cap=300.0)
        self.scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}, timezone=UTC
        )
        self.listener: ChangeListener | None = None
        self._client: CloudClient | None = None
        self._lock = Lock()
        self._again = Event()
        self._stopped = False
        self._in_round = False  # the watch's every-few-seconds update must not hide a round under way
        self._last_seen_seq = 0
        self._retry_at: datetime | None = None
        self._refused = ""
        self.state = SyncState("local")

    # --- life -----------------------------------------------------------------------------

    def start(self) -> None:
        # the first round (now) sends what is there; the watch looks for changes after it
        self._last_seen_seq = self._change_seq()
        now = datetime.now(UTC)
        self.scheduler.add_job(
            self.round, "interval", id=ROUND_JOB, seconds=self.interval.total_seconds(), next_run_time=now
        )
        self.scheduler.add_job(self.watch, "interval", id=WATCH_JOB, seconds=self.watch_every.total_seconds())
        self.scheduler.start()
        self._listen()

    def stop(self) -> None:
        self._stopped = True
        if self.listener is not None:
            self.listener.stop()
        if self.scheduler.running:
            # not wait=True: shutdown holds the job store's lock while it waits, and a round
            # failing meanwhile needs that lock to set its retry: neither would ever finish
            self.scheduler.shutdown(wait=False)
        with self._lock:  # a round in progress ends first
            pass
        if self._client is not None:
            self._client.close()

    def _listen(self) -> None:
        config = cloud.load(self.runtime)
        if config is None:
            return
        self._client = client = cloud.client(config)
        self.listener = ChangeListener(client, self._cloud_changed, on_revoked=self.trigger)
        self.listener.start()

    # --- triggers -------------------------------------------------------------------------

    def trigger(self) -> None:
        """Run a round now, unless the cloud is unreachable and the next retry is not due."""
        if self._retry_at is not None and datetime.now(UTC) < self._retry_at:
            return
        self._again.set()
        if self.scheduler.running:
            self.scheduler.modify_job(ROUND_JOB, next_run_time=datetime.now(UTC))

    def _cloud_changed(self, cursor: int) -> None:
        with self.runtime.engine.connect() as conn:
            mine = conn.exec_driver_sql("SELECT value FROM local_setting WHERE key = ?", (sync.CURSOR,)).scalar()
        if str(cursor) != mine:
            self.trigger()

    def watch(self) -> None:
        """Every few seconds: a local change since the last look starts a round."""
        seq = self._change_seq()
        if seq != self._last_seen_seq:
            self._last_seen_seq = seq
            self.trigger()
        self._publish()

    def _change_seq(self) -> int:
        with self.runtime.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM change_log").scalar() or 0)

    # --- the round ------------------------------------------------------------------------

    def round(self) -> sync.SyncReport | None:
        """One round; again while something asked for one during it (the scheduler drops a
        start asked for while a round runs, and that change would wait for the next interval)."""
        while True:
            self._again.clear()
            report = self._round()
            if report is None or not self._again.is_set():
                return report

    def _round(self) -> sync.SyncReport | None:
        if cloud.read_settings(self.runtime, cloud.URL).get(cloud.URL) is None:
            self._publish()
            return None
        with self._lock:
            if self._stopped:
                return None
            self._in_round = True
            self._publish()
            try:
                try:
                    report = sync.run_once(self.runtime)
                finally:
                    self._in_round = False
            except sync.SyncFailed as failed:
                self._failed(failed)
                return None
            except cloud.NotEnrolled as refused:
                self._refused = str(refused)
                self._publish()
                return None
            except Exception as exc:
                # the type only: database errors quote their parameters, which can be patient data
                log.error("sync round failed (%s)", type(exc).__name__)
                self._failed(sync.SyncFailed("Sync stopped on an unexpected error; it will try again.", offline=True))
                return None
            self.backoff.reset()
            self._retry_at = None
            self._refused = ""
            self._publish()
            return report

    def _failed(self, failed: sync.SyncFailed) -> None:
        if not failed.offline:
            # refused (revoked, upgrade needed): retrying soon changes nothing; say so and wait
            self._refused = str(failed)
            self._publish()
            return
        delay = self.backoff.next()
        self._retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        if self.scheduler.running:
            self.scheduler.modify_job(ROUND_JOB, next_run_time=self._retry_at)
        self._publish(message=str(failed))

    def _publish(self, kind: str | None = None, message: str = "") -> None:
        status = sync.status(self.runtime)
        if kind is None:
            if self._in_round:
                kind = "syncing"
            elif not status.enrolled:
                kind = "local"
            elif self._refused:
                kind, message = "refused", self._refused
            elif self._retry_at is not None:
                kind = "offline"
            elif status.conflicts:
                kind = "conflicts"
            elif status.pending:
                kind = "pending"
            else:
                kind = "synced"
        self.state = SyncState(
            kind, status.pending, status.conflicts, message, status.last_ok, self._retry_at, status.audit_unsent
        )
        notify = self.on_state  # read once: a stopping runner may clear it meanwhile
        if notify is not None:
            notify(self.state)
