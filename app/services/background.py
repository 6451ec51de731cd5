"""Background work on the workstation: the reminder scan, the outbox workers and the nightly
backup, on APScheduler.

Jobs live in a persistent APScheduler job store inside the (encrypted) clinic database, so
the schedule and missed runs survive a restart: a scan missed while the program was closed
runs once (coalesced) when it opens again. What must never be lost is not the schedule but
the messages, and those are in the outbox table, whatever happens to the scheduler.

Note: APScheduler's SQLAlchemyJobStore creates and owns its table ``apscheduler_jobs`` in
the clinic database; it is *not* managed by Alembic (it is not in our models or
migrations). It holds only pickled job definitions (a function reference and the clinic
id), no patient data, and APScheduler re-creates it if it is missing.
"""

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from threading import Event

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from app.services import backup_schedule, reminders
from app.services.messaging import outbox
from app.services.messaging.transports import Transport
from app.services.runtime import ClinicRuntime

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"
SCAN_JOB, DRAIN_JOB, HIGH_JOB = "reminder-scan", "outbox-drain", "outbox-high"

# persisted jobs can only name things, not hold them: a job carries the clinic id, and finds
# the running clinic's jobs object here
_RUNNING: dict[str, "BackgroundJobs"] = {}


def _scan_job(clinic_id: str) -> None:
    jobs = _RUNNING.get(clinic_id)
    if jobs is not None:
        jobs.scan()


def _drain_job(clinic_id: str) -> None:
    jobs = _RUNNING.get(clinic_id)
    if jobs is not None:
        jobs.drain()


def _high_job(clinic_id: str) -> None:
    jobs = _RUNNING.get(clinic_id)
    if jobs is not None:
        jobs.drain_high()


@dataclass(frozen=True)
class Intervals:
    scan: timedelta = timedelta(minutes=5)
    drain: timedelta = timedelta(seconds=20)
    # its own worker and job: a slow SMTP server in the standard batch cannot hold up cancellations
    high: timedelta = timedelta(seconds=5)


class BackgroundJobs:
    """The running scheduler of one open clinic."""

    def __init__(
        self,
        runtime: ClinicRuntime,
        transports: Mapping[str, Transport],
        *,
        intervals: Intervals = Intervals(),
        backoff: outbox.Backoff = outbox.DEFAULT_BACKOFF,
        quiet: reminders.QuietHours = reminders.DEFAULT_QUIET_HOURS,
        nightly_backup: bool = True,
    ) -> None:
        """Reminders and the outbox run when there are `transports` to send with; the nightly
        backup job when `nightly_backup` (it backs up on the night only where
        backup_schedule.runs_here)."""
        self.runtime = runtime
        self.transports = transports
        self.nightly_backup = nightly_backup
        self.intervals = intervals
        self.quiet = quiet
        self.stopping = Event()
        self.worker = outbox.OutboxWorker(
            runtime, transports, backoff=backoff, hold_until=self._hold_until, stop_event=self.stopping
        )
        self.high_worker = outbox.OutboxWorker(
            runtime, transports, queues=(outbox.HIGH,), backoff=backoff, stop_event=self.stopping
        )
        self.scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=runtime.engine, tablename=JOB_TABLE)},
            executors={"default": ThreadPoolExecutor(max_workers=3)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )

    def _hold_until(self, instant: datetime) -> datetime:
        # the clinic's time zone: the outbox does not know which location a message is about
        return self.quiet.defer(instant, self.runtime.info.time_zone)

    @property
    def clinic_id(self) -> str:
        return self.runtime.info.clinic_id

    def scan(self) -> reminders.ScanResult | None:
        """One reminder scan; errors are logged, not raised, so the schedule goes on."""
        try:
            return reminders.scan(self.runtime, quiet=self.quiet)
        except Exception as e:
            # the type only: database errors quote their parameters, which can be patient data
            log.error("reminder scan failed (%s)", type(e).__name__)
            return None

    def drain(self) -> int:
        try:
            return self.worker.drain()
        except Exception as e:
            # the type only: database errors quote their parameters, which can be patient data
            log.error("outbox drain failed (%s)", type(e).__name__)
            return 0

    def drain_high(self) -> int:
        try:
            return self.high_worker.drain()
        except Exception as e:
            # the type only: database errors quote their parameters, which can be patient data
            log.error("outbox (high) drain failed (%s)", type(e).__name__)
            return 0

    def start(self, *, run_soon: bool = True) -> None:
        """Start the scheduler; with run_soon the first scan and drain run within seconds, not after a full interval."""
        if self.clinic_id in _RUNNING:
            raise RuntimeError("background jobs are already running for this clinic")
        _RUNNING[self.clinic_id] = self
        if self.transports:
            self._add_messaging_jobs(run_soon)
        if self.nightly_backup:
            backup_schedule.add_nightly_job(self.scheduler, self.runtime, sends_messages=bool(self.transports))
        unwanted = ([] if self.transports else [SCAN_JOB, DRAIN_JOB, HIGH_JOB]) + (
            [] if self.nightly_backup else [backup_schedule.JOB_ID]
        )
        try:
            self.scheduler.start(paused=True)
            for job_id in unwanted:  # kept in the job store by an earlier start that wanted them
                with contextlib.suppress(JobLookupError):
                    self.scheduler.remove_job(job_id)
            self.scheduler.resume()
        except BaseException:
            _RUNNING.pop(self.clinic_id, None)
            backup_schedule.stop(self.clinic_id)
            raise

    def _add_messaging_jobs(self, run_soon: bool) -> None:
        soon = datetime.now(UTC) + timedelta(seconds=2) if run_soon else None
        args = [self.clinic_id]
        common = {"args": args, "replace_existing": True, "coalesce": True, "max_instances": 1}
        self.scheduler.add_job(
            _scan_job,
            "interval",
            id=SCAN_JOB,
            seconds=self.intervals.scan.total_seconds(),
            misfire_grace_time=max(1, int(self.intervals.scan.total_seconds())),
            **common,
            **({"next_run_time": soon} if soon else {}),
        )
        self.scheduler.add_job(
            _drain_job,
            "interval",
            id=DRAIN_JOB,
            seconds=self.intervals.drain.total_seconds(),
            misfire_grace_time=max(1, int(self.intervals.drain.total_seconds())),
            **common,
            **({"next_run_time": soon} if soon else {}),
        )
        self.scheduler.add_job(
            _high_job,
            "interval",
            id=HIGH_JOB,
            seconds=self.intervals.high.total_seconds(),
            misfire_grace_time=max(1, int(self.intervals.high.total_seconds())),
            **common,
        )

    def kick(self) -> None:
        """Run the outbox workers now (after queueing an urgent message), not at the next interval."""
        now = datetime.now(UTC)
        for job_id in (HIGH_JOB, DRAIN_JOB):
            self.scheduler.modify_job(job_id, next_run_time=now)

    def run_now(self) -> tuple[reminders.ScanResult | None, int]:
        """Scan and drain in the calling thread (tests, the 'send now' button); returns what each did."""
        result = self.scan()
        return result, self.drain()

    def stop(self) -> None:
        """Finish the message in flight, then stop; queued messages wait in the outbox for next time."""
        self.stopping.set()
        try:
            # a nightly backup stops at its next chunk and resumes next time
            backup_schedule.stop(self.clinic_id)
            if self.scheduler.running:
                self.scheduler.shutdown(wait=True)
        finally:
            if _RUNNING.get(self.clinic_id) is self:
                del _RUNNING[self.clinic_id]


def start_background(
    runtime: ClinicRuntime,
    transports: Mapping[str, Transport],
    *,
    intervals: Intervals = Intervals(),
    backoff: outbox.Backoff = outbox.DEFAULT_BACKOFF,
    quiet: reminders.QuietHours = reminders.DEFAULT_QUIET_HOURS,
    run_soon: bool = True,
    nightly_backup: bool = True,
) -> BackgroundJobs:
    """Start the clinic's background jobs (reminder scan every 5 min, outbox drain every 20 s,
    the nightly backup)."""
    jobs = BackgroundJobs(
        runtime, transports, intervals=intervals, backoff=backoff, quiet=quiet, nightly_backup=nightly_backup
    )
    jobs.start(run_soon=run_soon)
    return jobs
