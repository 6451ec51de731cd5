"""The nightly backup: at 02:30 clinic time, to the clinic's cloud and/or this workstation's
backup folder, then retention (7 daily, 4 weekly, 12 monthly).

One workstation of the clinic takes it: the one chosen in the clinic's row (it syncs), see
`runs_here`. Destinations: the cloud if this workstation is enrolled, and the folder set in
local_setting `backup.folder` (a USB disk or NAS share), each on its own: one failing
does not stop the other. Failures are logged (backups, stores and reasons, never patient
data); an interrupted backup resumes on the next run.

The job runs on the open clinic's APScheduler (app.services.background) in its own
one-thread executor, so a long first upload never holds up the reminder and outbox jobs.
Like those jobs, the persisted job names only the clinic id and finds the running clinic
in `_RUNNING`. A night missed while the program was closed runs once, a few minutes after
it opens: a re-added job gets a fresh next run time, so the miss is judged from the last
complete backup kept in local_setting `backup.last_nightly` (a night whose backup failed
anywhere counts as missed). Closing the program stops a running
backup at its next chunk (`stop`), rather than holding the program open until it ends.
"""

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from app.db.models import Clinic
from app.domain.backup_format import Retention
from app.domain.errors import UserError
from app.domain.permissions import Scope
from app.services import backup, cloud
from app.services.backup import BackupStore, FolderStore, PassphraseProvider
from app.services.backup_cloud import open_cloud_store
from app.services.context import Actor, Ctx
from app.services.runtime import ClinicRuntime

log = logging.getLogger(__name__)

JOB_ID = "nightly-backup"
EXECUTOR = "backup"
AT = time(2, 30)
CATCH_UP_AFTER = timedelta(minutes=5)  # after start-up, for a missed night
POLICY = Retention(daily=7, weekly=4, monthly=12)
FOLDER_SETTING, LAST_RUN_SETTING = "backup.folder", "backup.last_nightly"


@dataclass
class _Running:
    runtime: ClinicRuntime
    passphrase: PassphraseProvider
    stopping: threading.Event
    sends_messages: bool = False


_RUNNING: dict[str, _Running] = {}


@dataclass(frozen=True)
class Outcome:
    destination: str
    backup_id: str | None = None
    pruned: tuple[str, ...] = ()
    error: str | None = None


def backup_folder(runtime: ClinicRuntime) -> Path | None:
    value = cloud.read_settings(runtime, FOLDER_SETTING).get(FOLDER_SETTING)
    return Path(value) if value else None


def set_backup_folder(runtime: ClinicRuntime, folder: Path | None) -> None:
    """The folder the nightly backup also goes to on this workstation (None: no folder)."""
    cloud.write_settings(runtime, {FOLDER_SETTING: str(folder) if folder else None})


NOBODY = ""  # clinic.nightly_backup_by when an administrator turned it off everywhere


def has_destination(runtime: ClinicRuntime) -> bool:
    """Whether a backup from this workstation has anywhere to go (the cloud, a folder)."""
    return bool(cloud.read_settings(runtime, cloud.URL, FOLDER_SETTING))


def nightly_workstation(runtime: ClinicRuntime) -> str | None:
    """The workstation id chosen clinic-wide to take the nightly backup (NOBODY: none), or
    None when never chosen. It is a column of the clinic's row, so it syncs: choosing one
    workstation stops the one chosen before, once the choice reaches it."""
    with runtime.engine.connect() as conn:
        return conn.exec_driver_sql(  # type: ignore[no-any-return]
            "SELECT nightly_backup_by FROM clinic WHERE id = ?", (runtime.info.clinic_id,)
        ).scalar()


def runs_here(runtime: ClinicRuntime, *, sends_messages: bool = False) -> bool:
    """Whether this workstation takes the clinic's nightly backup: the one chosen (Admin →
    Backups, `chairside backup nightly`, or by itself the workstation that connected the
    clinic to the cloud); never chosen, the workstation that sends the reminders, as before
    the choice existed, so an upgraded clinic keeps its backups."""
    chosen = nightly_workstation(runtime)
    return sends_messages if chosen is None else chosen == runtime.workstation_id


def take_nightly_if_unset(runtime: ClinicRuntime) -> None:
    """The workstation that connects the clinic to the cloud takes the nightly backup, unless
    one was chosen before."""
    if nightly_workstation(runtime) is None:
        _set_chosen(Ctx(runtime, None), runtime.workstation_id, {"reason": "connected the clinic to the cloud"})


def configure(ctx: Ctx, *, here: bool | None, folder: Path | None) -> None:
    """`choose`, by an administrator (Admin → Backups)."""
    ctx.require(Scope.USERS_ADMIN)
    choose(ctx.runtime, here=here, folder=folder, actor=ctx.actor)


def choose(runtime: ClinicRuntime, *, here: bool | None, folder: Path | None, actor: Actor | None = None) -> None:
    """Make this workstation the clinic's nightly-backup workstation (`here` True), or stop it
    taking it (False: then no workstation does until one is chosen); None leaves that as it
    is. `folder`: where this workstation's backups also go (None: no folder).

    Audited (actor None: clinic IT on the command line, with the clinic's key). A folder must
    exist (a USB disk or NAS share that is plugged in now) and lie outside the clinic's own
    folder. The nightly job looks at the choice each night, so it applies from the next one.
    """
    if folder is not None:
        if not folder.is_dir():
            raise UserError(
                f"The folder {folder} does not exist or is not reachable; plug the disk in or choose another."
            )
        if folder.resolve().is_relative_to(runtime.data_dir.resolve()):
            raise UserError(f"Keep backups outside the clinic's folder {runtime.data_dir} (best on another disk).")
    set_backup_folder(runtime, folder)
    ctx = Ctx(runtime, actor)
    details = {"here": here, "folder": str(folder) if folder else None}
    if here:
        _set_chosen(ctx, runtime.workstation_id, details)
    elif here is False and nightly_workstation(runtime) in (None, runtime.workstation_id):
        _set_chosen(ctx, NOBODY, details)
    else:
        with ctx.uow() as uow:
            uow.audit("backup.nightly_configured", details=details)
            uow.commit()


def _set_chosen(ctx: Ctx, workstation: str, details: Mapping[str, object]) -> None:
    with ctx.uow() as uow:
        clinic = uow.session.get(Clinic, ctx.runtime.info.clinic_id)
        assert clinic is not None
        clinic.nightly_backup_by = workstation
        uow.audit(
            "backup.nightly_configured",
            entity_type="clinic",
            entity_id=clinic.id,
            details={**details, "workstation": workstation or None},
        )
        uow.commit()


def _back_up(
    runtime: ClinicRuntime,
    destination: str,
    open_store: Callable[[], AbstractContextManager[BackupStore]],
    passphrase: PassphraseProvider,
    stopping: threading.Event,
) -> Outcome:
    try:
        with open_store() as store:
            destination = store.describe()
            made = backup.create(runtime, store, passphrase=passphrase, stop=stopping)
            pruned = backup.apply_retention(
                store,
                runtime.info.clinic_id,
                daily=POLICY.daily,
                weekly=POLICY.weekly,
                monthly=POLICY.monthly,
                tz=ZoneInfo(runtime.info.time_zone),
                runtime=runtime,
            )
    except UserError as e:  # messages name stores, backups and reasons only
        log.warning("nightly backup to %s failed: %s", destination, e)
        return Outcome(destination, error=str(e))
    except Exception as e:
        # the type only: database errors quote their parameters, which can be patient data
        log.error("nightly backup to %s failed (%s)", destination, type(e).__name__)
        return Outcome(destination, error=type(e).__name__)
    log.info("nightly backup %s written to %s; %d older ones pruned", made.backup_id, destination, len(pruned))
    return Outcome(destination, made.backup_id, tuple(pruned))


def run_nightly(
    runtime: ClinicRuntime,
    *,
    passphrase: PassphraseProvider = lambda: None,
    stopping: threading.Event | None = None,
) -> list[Outcome]:
    """Back up to every configured destination and apply retention; one outcome each."""
    stopping = stopping or threading.Event()
    outcomes = []
    folder = backup_folder(runtime)
    if folder is not None:
        store = FolderStore(folder)
        outcomes.append(
            _back_up(runtime, store.describe(), lambda: contextlib.nullcontext(store), passphrase, stopping)
        )
    if cloud.read_settings(runtime, cloud.URL):
        outcomes.append(_back_up(runtime, "the cloud service", lambda: open_cloud_store(runtime), passphrase, stopping))
    if not outcomes:
        log.info("nightly backup: no destination set (no backup folder, not enrolled in a cloud)")
    if outcomes and all(o.error is None for o in outcomes) and not stopping.is_set():
        # only a backup that reached every destination counts: after a failure, the next
        # start of the program tries again a few minutes later (`_missed`)
        cloud.write_settings(runtime, {LAST_RUN_SETTING: datetime.now(UTC).isoformat()})
    return outcomes


def _nightly_job(clinic_id: str) -> None:
    running = _RUNNING.get(clinic_id)
    if running is None:
        return
    if not runs_here(running.runtime, sends_messages=running.sends_messages):
        log.info("nightly backup: another workstation of the clinic takes it")
        return
    try:
        run_nightly(running.runtime, passphrase=running.passphrase, stopping=running.stopping)
    except Exception as e:
        log.error("nightly backup failed (%s)", type(e).__name__)


def _last_due(now: datetime, tz: ZoneInfo, at: time) -> datetime:
    """The latest nightly time at or before `now`."""
    local = now.astimezone(tz)
    due = datetime.combine(local.date(), at, tzinfo=tz)
    return due if due <= local else due - timedelta(days=1)


def _missed(runtime: ClinicRuntime, now: datetime, tz: ZoneInfo, at: time) -> bool:
    last = cloud.read_settings(runtime, LAST_RUN_SETTING).get(LAST_RUN_SETTING)
    try:
        return last is None or datetime.fromisoformat(last) < _last_due(now, tz, at)
    except ValueError:
        return True


def add_nightly_job(
    scheduler: BaseScheduler,
    runtime: ClinicRuntime,
    *,
    passphrase: PassphraseProvider = lambda: None,
    at: time = AT,
    now: datetime | None = None,
    sends_messages: bool = False,
) -> None:
    """Schedule the clinic's nightly backup on `scheduler` (call before `scheduler.start()`).

    Each night the job backs up only if this workstation takes the backup then (`runs_here`;
    `sends_messages` for a clinic that never chose one), so a choice made since, here or on
    another workstation, needs no restart."""
    clinic_id = runtime.info.clinic_id
    _RUNNING[clinic_id] = _Running(runtime, passphrase, threading.Event(), sends_messages)
    with contextlib.suppress(ValueError):  # already added
        scheduler.add_executor(ThreadPoolExecutor(max_workers=1), alias=EXECUTOR)
    tz = ZoneInfo(runtime.info.time_zone)
    now = now or datetime.now(UTC)
    catch_up = {"next_run_time": now + CATCH_UP_AFTER} if _missed(runtime, now, tz, at) else {}
    scheduler.add_job(
        _nightly_job,
        CronTrigger(hour=at.hour, minute=at.minute, timezone=tz),
        id=JOB_ID,
        args=[clinic_id],
        executor=EXECUTOR,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,  # a night slept through (laptop lid shut) still runs, once
        **catch_up,
    )


def scheduled(runtime: ClinicRuntime) -> bool:
    """Whether this running program has the nightly job (it runs where a backup can go)."""
    return runtime.info.clinic_id in _RUNNING


def stop(clinic_id: str) -> None:
    """The program is closing: a running backup stops at its next chunk; no further runs."""
    running = _RUNNING.pop(clinic_id, None)
    if running is not None:
        running.stopping.set()
