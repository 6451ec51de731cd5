"""The nightly backup: its destinations, retention, a missed night, and stopping on close."""

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import keyring
import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from app.db.models import AuditEvent
from app.domain.backup_format import new_backup_id, retention_keep
from app.domain.errors import UserError
from app.domain.permissions import Role
from app.services import backup, backup_schedule, cloud
from app.services.context import PermissionDenied
from app.services.runtime import ClinicRuntime
from tests.conftest import MemoryKeyring
from tests.integration.test_backup import _manifest, chairside

_ORIGINAL_KEYRING = keyring.get_keyring()


def _fake_nights(folder: Path, clinic_id: str, nights: int) -> list[tuple[str, datetime]]:
    """Backups of earlier nights (manifests only: retention reads nothing else)."""
    made = []
    for days in range(nights, 0, -1):
        when = datetime.now(UTC) - timedelta(days=days)
        backup_id = new_backup_id(when)
        (folder / backup_id).mkdir()
        (folder / backup_id / "manifest.json").write_bytes(_manifest(backup_id, clinic_id, when))
        made.append((backup_id, when))
    return made


def test_the_nightly_backup_goes_to_the_folder_set_then_keeps_7_daily_4_weekly_12_monthly(
    runtime: ClinicRuntime, tmp_path: Path
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    earlier = _fake_nights(usb, runtime.info.clinic_id, 90)
    backup_schedule.set_backup_folder(runtime, usb)

    [outcome] = backup_schedule.run_nightly(runtime)

    assert outcome.error is None and outcome.destination == f"folder {usb}"
    made = backup.FolderStore(usb).get_manifest(outcome.backup_id or "")
    assert made
    everything = [*earlier, (outcome.backup_id, datetime.now(UTC))]
    keep = retention_keep(everything, backup_schedule.POLICY, tz=ZoneInfo(runtime.info.time_zone))
    assert set(outcome.pruned) == {b for b, _ in everything} - keep and len(outcome.pruned) > 60
    assert sorted(backup.FolderStore(usb).list_backups()) == sorted(keep)
    last = cloud.read_settings(runtime, backup_schedule.LAST_RUN_SETTING)[backup_schedule.LAST_RUN_SETTING]
    assert datetime.now(UTC) - datetime.fromisoformat(last) < timedelta(minutes=1)


def test_no_destination_means_no_backup_and_a_missing_folder_is_reported_not_raised(
    runtime: ClinicRuntime, tmp_path: Path
) -> None:
    assert backup_schedule.run_nightly(runtime) == []

    backup_schedule.set_backup_folder(runtime, tmp_path / "unplugged" / "backups")
    [outcome] = backup_schedule.run_nightly(runtime)
    assert outcome.backup_id is None and "does not exist or is not reachable" in (outcome.error or "")
    # a failed night is not taken for a done one: the next start makes it up
    assert backup_schedule.LAST_RUN_SETTING not in cloud.read_settings(runtime, backup_schedule.LAST_RUN_SETTING)


def test_closing_the_program_stops_the_backup_and_the_next_run_resumes_it(
    runtime: ClinicRuntime, tmp_path: Path
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    backup_schedule.set_backup_folder(runtime, usb)
    closing = threading.Event()
    closing.set()

    [stopped] = backup_schedule.run_nightly(runtime, stopping=closing)

    assert "was stopped before it finished" in (stopped.error or "")
    assert backup_schedule.LAST_RUN_SETTING not in cloud.read_settings(runtime, backup_schedule.LAST_RUN_SETTING)
    [partial] = backup.FolderStore(usb).list_partials()
    [resumed] = backup_schedule.run_nightly(runtime)
    assert resumed.backup_id == partial and backup.FolderStore(usb).list_partials() == []


def test_the_job_runs_at_half_past_two_clinic_time_and_catches_up_a_missed_night(
    runtime: ClinicRuntime, tmp_path: Path
) -> None:
    now = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)  # 11:00 in New York
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=runtime.engine, tablename="apscheduler_jobs")}, timezone=UTC
    )
    backup_schedule.add_nightly_job(scheduler, runtime, now=now)  # never ran: missed
    job = scheduler.get_job(backup_schedule.JOB_ID)
    assert job.next_run_time == now + backup_schedule.CATCH_UP_AFTER
    assert (str(job.trigger.fields[5]), str(job.trigger.fields[6])) == ("2", "30")  # hour, minute
    assert str(job.trigger.timezone) == runtime.info.time_zone == "America/New_York"

    cloud.write_settings(runtime, {backup_schedule.LAST_RUN_SETTING: (now - timedelta(hours=8)).isoformat()})
    backup_schedule.add_nightly_job(scheduler, runtime, now=now)  # ran last night at 02:30 New York time
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(backup_schedule.JOB_ID)
        assert job.func_ref == "app.services.backup_schedule:_nightly_job" and job.executor == "backup"
        assert job.next_run_time.astimezone(ZoneInfo("America/New_York")).time().isoformat() == "02:30:00"
        assert job.coalesce and job.misfire_grace_time is None
    finally:
        scheduler.shutdown(wait=False)

    # the persisted job finds the open clinic by its id, as the reminder jobs do
    usb = tmp_path / "usb"
    usb.mkdir()
    backup_schedule.set_backup_folder(runtime, usb)
    backup_schedule._nightly_job(runtime.info.clinic_id)
    assert backup.FolderStore(usb).list_backups() == []  # never chosen, and it sends no reminders: not its job
    backup_schedule.choose(runtime, here=True, folder=usb)
    backup_schedule._nightly_job(runtime.info.clinic_id)  # the choice counts the same night: no restart needed
    assert len(backup.FolderStore(usb).list_backups()) == 1
    backup_schedule.stop(runtime.info.clinic_id)
    backup_schedule._nightly_job(runtime.info.clinic_id)  # closed: nothing runs
    assert len(backup.FolderStore(usb).list_backups()) == 1


def test_a_backup_stopped_on_one_destination_still_resumes_after_a_backup_to_the_other(
    runtime: ClinicRuntime, tmp_path: Path
) -> None:
    cloudish, usb = backup.FolderStore(tmp_path / "cloudish"), backup.FolderStore(tmp_path / "usb")
    closing = threading.Event()
    closing.set()
    with pytest.raises(backup.BackupError, match="was stopped"):
        backup.create(runtime, cloudish, stop=closing)
    [partial] = cloudish.list_partials()

    backup.create(runtime, usb)  # a fresh backup with its own snapshot leaves the other's staged one

    resumed = backup.create(runtime, cloudish)
    assert resumed.resumed and resumed.backup_id == partial
    assert not list((runtime.data_dir / backup.STAGING).glob("*/clinic.db"))


# --- which workstation takes the nightly backup ----------------------------------------------


def test_the_nightly_backup_runs_where_an_administrator_chose_and_the_choice_is_audited(
    staff: dict,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    admin, receptionist = staff[Role.ADMINISTRATOR], staff[Role.RECEPTIONIST]
    runtime = admin.runtime
    nas = tmp_path / "nas"
    nas.mkdir()
    # never chosen: the workstation that sends reminders takes it, as before the choice existed
    assert backup_schedule.runs_here(runtime, sends_messages=True)
    assert not backup_schedule.runs_here(runtime)

    with pytest.raises(PermissionDenied):
        backup_schedule.configure(receptionist, here=True, folder=nas)
    with pytest.raises(UserError, match="does not exist or is not reachable"):
        backup_schedule.configure(admin, here=True, folder=tmp_path / "unplugged")
    with pytest.raises(UserError, match="outside the clinic's folder"):
        backup_schedule.configure(admin, here=True, folder=runtime.data_dir)
    backup_schedule.configure(admin, here=True, folder=nas)

    assert backup_schedule.runs_here(runtime) and backup_schedule.backup_folder(runtime) == nas
    with runtime.sessions() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "backup.nightly_configured")).all()
    assert event.user_id == admin.actor.user_id

    backup_schedule.configure(admin, here=False, folder=None)
    assert not backup_schedule.runs_here(runtime, sends_messages=True)  # chosen off, even where reminders go


def test_a_nightly_backup_needs_no_keyring_on_the_workstation_that_opened_the_clinic(
    runtime: ClinicRuntime, tmp_path: Path
) -> None:
    nas = tmp_path / "nas"
    nas.mkdir()
    backup_schedule.set_backup_folder(runtime, nas)
    keyring.set_keyring(MemoryKeyring())  # an empty keyring, as on a Linux machine without one
    try:
        [outcome] = backup_schedule.run_nightly(runtime)  # no passphrase to ask for at 02:30
    finally:
        keyring.set_keyring(_ORIGINAL_KEYRING)
    assert outcome.error is None and outcome.backup_id in backup.FolderStore(nas).list_backups()


def test_clinic_it_chooses_the_nightly_backup_workstation_on_the_command_line(
    runtime: ClinicRuntime, clinic_dir: Path, tmp_path: Path
) -> None:
    runtime.close()
    nas = tmp_path / "nas"
    nas.mkdir()
    where = ("--data-dir", str(clinic_dir))

    before = chairside("backup", "nightly", *where)
    chosen = chairside("backup", "nightly", *where, "--here", "--folder", str(nas))
    unplugged = chairside("backup", "nightly", *where, "--folder", str(tmp_path / "unplugged"))
    off = chairside("backup", "nightly", *where, "--not-here")

    assert before.returncode == 0 and "does not take the clinic's nightly backup" in before.stdout
    assert (
        chosen.returncode == 0 and f"takes the clinic's nightly backup at 02:30 clinic time, to {nas}." in chosen.stdout
    )
    assert unplugged.returncode != 0 and "does not exist or is not reachable" in unplugged.stderr
    assert off.returncode == 0 and "does not take" in off.stdout
