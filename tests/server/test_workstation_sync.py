"""Two real workstations (two encrypted clinic databases) syncing through the real service.

The service runs in uvicorn on loopback over this module's PostgreSQL database; the
workstations use the same client and sync code as the product (`chairside sync`).
"""

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app import bootstrap
from app.db.models import Appointment, Patient, SyncConflict
from app.domain.errors import UserError
from app.domain.permissions import Role
from app.services import auth, backup_schedule, cloud, patients, scheduling, sync, sync_conflicts
from app.services.context import Ctx, PermissionDenied
from app.services.runtime import ClinicRuntime
from app.services.sync_background import SyncState, SyncWorker
from sync.client import CloudClient
from sync.server.config import Settings
from sync.server.models import AuditEvent as CloudAuditEvent
from sync.server.services import clinics
from tests.conftest import ADMIN_PASSWORD, PASSPHRASE, STAFF_PASSWORD
from tests.integration.scheduling_fixtures import FUTURE_MONDAY, make_book
from tests.server.workstations import (
    DropReplies,
    Served,
    edit,
    enrolled_offline,
    free_port,
    register,
    serve,
    silent_cloud,
)


@pytest.fixture(scope="module")
def service(database_url: str) -> Iterator[Served]:
    with serve(Settings(database_url=database_url, enrol_rate_per_minute=10_000)) as served:
        yield served


@pytest.fixture
def pair(service: Served, db: Session, staff: dict, tmp_path: Path) -> Iterator[tuple[Ctx, Ctx]]:  # type: ignore[type-arg]
    """The front desk's workstation (the clinic's first) and a surgery workstation that joined it."""
    desk = staff[Role.RECEPTIONIST]
    cloud_clinic = clinics.create_clinic(db, "Test Dental").id
    assert sync.connect_clinic(desk.runtime, service.url, clinics.create_enrol_code(db, cloud_clinic))
    sync.run_once(desk.runtime)
    surgery_rt = bootstrap.join_clinic(
        tmp_path / "surgery", url=service.url, code=clinics.create_enrol_code(db, cloud_clinic), passphrase=PASSPHRASE
    )
    surgery = Ctx(surgery_rt, auth.sign_in(surgery_rt, "receptionist", STAFF_PASSWORD))
    yield desk, surgery
    surgery_rt.close()


def patient_rows(runtime: ClinicRuntime) -> dict[str, tuple]:  # type: ignore[type-arg]
    with runtime.sessions() as s:
        return {
            p.id: (p.chart_no, p.first_name, p.last_name, p.mobile_phone, p.email, p.version)
            for p in s.scalars(select(Patient))
        }


def bookings(runtime: ClinicRuntime) -> dict[str, tuple]:  # type: ignore[type-arg]
    with runtime.sessions() as s:
        return {
            a.id: (a.patient_id, a.provider_id, a.starts_at, a.on_pinboard, a.version)
            for a in s.scalars(select(Appointment))
        }


def test_a_joined_workstation_holds_the_whole_clinic_and_its_staff_can_sign_in(pair: tuple[Ctx, Ctx]) -> None:
    desk, surgery = pair

    assert surgery.runtime.info.name == "Test Dental"
    assert surgery.runtime.info.clinic_id == desk.runtime.info.clinic_id
    assert patient_rows(surgery.runtime) == patient_rows(desk.runtime)
    assert auth.sign_in(surgery.runtime, "admin", ADMIN_PASSWORD).username == "admin"


def test_edits_on_each_workstation_converge(pair: tuple[Ctx, Ctx]) -> None:
    desk, surgery = pair
    ames = register(desk, "Ada", "Ames")
    sync.run_once(desk.runtime)
    sync.run_once(surgery.runtime)
    bell = register(surgery, "Bea", "Bell")
    edit(surgery, ames, "Ada", "Ames-Cole")

    sync.run_once(surgery.runtime)
    report = sync.run_once(desk.runtime)

    assert report.conflicts == []
    rows = patient_rows(desk.runtime)
    assert rows[ames][2] == "Ames-Cole" and rows[bell][1:3] == ("Bea", "Bell")
    assert patient_rows(surgery.runtime) == rows
    assert sync.status(desk.runtime).pending == 0 and sync.status(surgery.runtime).pending == 0


def test_demographics_edited_on_both_merge_field_by_field(pair: tuple[Ctx, Ctx]) -> None:
    desk, surgery = pair
    pid = register(desk, "Cy", "Cole", mobile_phone="+12025550101", email="cy@example.org")
    sync.run_once(desk.runtime)
    sync.run_once(surgery.runtime)

    # both offline: the desk changes the phone, the surgery the e-mail
    edit(desk, pid, "Cy", "Cole", mobile_phone="+12025550199", email="cy@example.org")
    edit(surgery, pid, "Cy", "Cole", mobile_phone="+12025550101", email="cy.cole@example.org")
    sync.run_once(desk.runtime)
    sync.run_once(surgery.runtime)
    sync.run_once(desk.runtime)

    for ws in (desk, surgery):
        record = patients.open_record(ws, pid)
        assert (record.data.mobile_phone, record.data.email) == ("+12025550199", "cy.cole@example.org")
    assert patient_rows(desk.runtime)[pid] == patient_rows(surgery.runtime)[pid]


def test_the_same_slot_booked_on_both_offline_leaves_one_booking_and_a_conflict(pair: tuple[Ctx, Ctx]) -> None:
    desk, surgery = pair
    admin = Ctx(desk.runtime, auth.sign_in(desk.runtime, "admin", ADMIN_PASSWORD))
    book = make_book(admin)
    first, second = register(desk, "Di", "Dunn"), register(desk, "Ed", "Eve")
    sync.run_once(desk.runtime)
    sync.run_once(surgery.runtime)

    at_desk = scheduling.book(desk, book.request(first, FUTURE_MONDAY, "09:00", "09:30"))
    at_surgery = scheduling.book(surgery, book.request(second, FUTURE_MONDAY, "09:10", "09:40"))
    sync.run_once(desk.runtime)
    report = sync.run_once(surgery.runtime)
    sync.run_once(desk.runtime)

    assert len(report.conflicts) == 1 and "pinboard" in report.conflicts[0]
    for ws in (desk, surgery):
        rows = bookings(ws.runtime)
        on_the_book = [i for i, r in rows.items() if not r[3]]
        assert on_the_book == [at_desk.id]
        assert rows[at_surgery.id][3] is True  # waiting on the pinboard, not lost
    with surgery.runtime.sessions() as s:
        conflict = s.scalars(select(SyncConflict)).one()
    assert (conflict.table_name, conflict.row_id, conflict.reason) == ("appointment", at_surgery.id, "overlap")
    assert sync.status(surgery.runtime).conflicts == 1


def test_a_push_whose_reply_was_lost_is_resent_and_duplicates_nothing(
    pair: tuple[Ctx, Ctx], service: Served, db: Session
) -> None:
    desk, surgery = pair
    pid = register(desk, "Flo", "Finch")
    lossy = DropReplies()
    config = cloud.require(desk.runtime)
    lossy.drop_pushes = 1
    with CloudClient(config.url, config.token, transport=lossy) as api:
        with pytest.raises(sync.SyncFailed) as failed:
            sync.run_once(desk.runtime, api)
        assert failed.value.offline
        assert sync.status(desk.runtime).pending == 1  # not marked pushed without a reply
        again = sync.run_once(desk.runtime, api)

    assert again.pushed == 1
    sync.run_once(surgery.runtime)
    assert list(patient_rows(surgery.runtime)).count(pid) == 1
    assert sync.status(desk.runtime).pending == 0


def test_the_service_restarting_mid_pull_then_sync_resumes(
    pair: tuple[Ctx, Ctx], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk, surgery = pair
    made = [register(desk, f"Gil{i}", "Gray") for i in range(30)]
    sync.run_once(desk.runtime)
    monkeypatch.setattr(sync, "PULL_PAGE", 10)
    settings = Settings(database_url=database_url)
    token = cloud.require(surgery.runtime).token
    port = free_port()

    def stop_after_first_page(served: Served) -> Callable[[str, int], None]:
        def progress(stage: str, _count: int) -> None:
            if stage == "pull":
                served.server.should_exit = True
                served.thread.join(10)

        return progress

    with serve(settings, port) as served, CloudClient(served.url, token) as api:
        with pytest.raises(sync.SyncFailed) as failed:
            sync.run_once(surgery.runtime, api, progress=stop_after_first_page(served))
    half = patient_rows(surgery.runtime)
    with serve(settings, port) as served, CloudClient(served.url, token) as api:
        sync.run_once(surgery.runtime, api)

    assert failed.value.offline and "could not be reached" in str(failed.value)
    assert 0 < sum(p in half for p in made) < len(made)  # the first page was kept
    assert patient_rows(surgery.runtime) == patient_rows(desk.runtime)


KILLED_MID_PULL = """
import os, signal, sys
from app import bootstrap
from app.services import sync, sync_rows
from sync.client import CloudClient

data_dir, url, token, passphrase = sys.argv[1:5]
sync.PULL_PAGE = 10
real_upsert, calls = sync_rows.upsert, []

def upsert_then_die(conn, table, rows):
    real_upsert(conn, table, rows)
    calls.append(table)
    if len(calls) == 2 and table == "patient":  # inside the second page's transaction
        os.kill(os.getpid(), signal.SIGKILL)

sync_rows.upsert = upsert_then_die
runtime = bootstrap.open_clinic(__import__("pathlib").Path(data_dir), lambda: passphrase)
with CloudClient(url, token) as api:
    sync.run_once(runtime, api)
"""


def test_a_workstation_killed_mid_pull_resumes_cleanly(pair: tuple[Ctx, Ctx], service: Served) -> None:
    desk, surgery = pair
    made = [register(desk, f"Ivy{i}", "Ince") for i in range(30)]
    sync.run_once(desk.runtime)
    token = cloud.require(surgery.runtime).token
    data_dir = surgery.runtime.data_dir

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_PULL, str(data_dir), service.url, token, PASSPHRASE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    half = patient_rows(surgery.runtime)
    sync.run_once(surgery.runtime)

    with surgery.runtime.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert sum(p in half for p in made) == 10  # exactly the one page committed before the kill
    assert patient_rows(surgery.runtime) == patient_rows(desk.runtime)


def test_a_revoked_workstation_is_refused_and_keeps_its_data(pair: tuple[Ctx, Ctx]) -> None:
    desk, surgery = pair
    pid = register(surgery, "Hal", "Hart")
    config = cloud.require(desk.runtime)
    mine = cloud.require(surgery.runtime)
    with CloudClient(config.url, config.token) as api:
        api.request("POST", f"/v1/devices/{mine.device_id}/revoke")

    with pytest.raises(UserError, match="revoked"):
        sync.run_once(surgery.runtime)
    assert pid in patient_rows(surgery.runtime)
    assert sync.status(surgery.runtime).pending >= 1


def test_an_enrolled_clinic_cannot_be_merged_into_another_clinics_cloud(
    pair: tuple[Ctx, Ctx], service: Served, db: Session, tmp_path: Path
) -> None:
    desk, _surgery = pair
    cloud_clinic = cloud.require(desk.runtime).cloud_clinic_id
    other = bootstrap.create_clinic(
        tmp_path / "other", clinic_name="Other Dental", passphrase=PASSPHRASE, admin_password=ADMIN_PASSWORD
    )
    try:
        with pytest.raises(UserError, match="cloud join"):
            sync.connect_clinic(other, service.url, clinics.create_enrol_code(db, cloud_clinic))
        assert not sync.status(other).enrolled
    finally:
        other.close()


def test_chart_numbers_given_twice_offline_are_settled_the_same_way_everywhere(pair: tuple[Ctx, Ctx]) -> None:
    desk, surgery = pair
    a = register(desk, "Ira", "Ives")
    b = register(surgery, "Jo", "Jay")
    assert patient_rows(desk.runtime)[a][0] == patient_rows(surgery.runtime)[b][0]

    for ws in (desk, surgery, desk, surgery):
        sync.run_once(ws.runtime)

    rows = patient_rows(desk.runtime)
    assert rows == patient_rows(surgery.runtime)
    assert rows[a][0] != rows[b][0]
    assert min(rows[a][0], rows[b][0], key=len).isdigit()  # the first registered keeps the plain number


def test_first_sync_pages_survive_a_long_gap(pair: tuple[Ctx, Ctx]) -> None:
    desk, surgery = pair
    book = make_book(Ctx(desk.runtime, auth.sign_in(desk.runtime, "admin", ADMIN_PASSWORD)))
    pid = register(desk, "Kit", "Kane")
    made = [
        scheduling.book(desk, book.request(pid, FUTURE_MONDAY + timedelta(days=7 * w), "10:00", "10:30")).id
        for w in range(5)
    ]
    sync.run_once(desk.runtime)

    sync.run_once(surgery.runtime)

    assert set(made) <= set(bookings(surgery.runtime))


def test_a_booking_changed_on_both_is_listed_and_this_workstations_version_can_be_kept(pair: tuple[Ctx, Ctx]) -> None:
    desk, surgery = pair
    book = make_book(Ctx(desk.runtime, auth.sign_in(desk.runtime, "admin", ADMIN_PASSWORD)))
    pid = register(desk, "Lu", "Lane")
    booked = scheduling.book(desk, book.request(pid, FUTURE_MONDAY, "09:00", "09:30"))
    sync.run_once(desk.runtime)
    sync.run_once(surgery.runtime)

    scheduling.move(
        desk,
        booked.id,
        booked.version,
        starts_at=book.at(FUTURE_MONDAY, "14:00"),
        ends_at=book.at(FUTURE_MONDAY, "14:30"),
    )
    scheduling.move(
        surgery,
        booked.id,
        booked.version,
        starts_at=book.at(FUTURE_MONDAY, "15:00"),
        ends_at=book.at(FUTURE_MONDAY, "15:30"),
    )
    sync.run_once(desk.runtime)
    report = sync.run_once(surgery.runtime)
    [conflict] = sync_conflicts.list_open(surgery)
    sees_first = bookings(surgery.runtime)[booked.id][2]

    sync_conflicts.resolve(surgery, conflict.id, sync_conflicts.KEEP_MINE)
    sync.run_once(surgery.runtime)
    sync.run_once(desk.runtime)

    assert len(report.conflicts) == 1 and conflict.what == "Appointment"
    assert conflict.choices == (sync_conflicts.KEEP_THEIRS, sync_conflicts.KEEP_MINE)
    assert sees_first == book.at(FUTURE_MONDAY, "14:00")  # converged on the first push meanwhile
    for ws in (desk, surgery):
        assert bookings(ws.runtime)[booked.id][2] == book.at(FUTURE_MONDAY, "15:00")
    assert sync_conflicts.list_open(surgery) == []


def test_a_conflict_is_settled_only_with_the_records_permission(pair: tuple[Ctx, Ctx]) -> None:
    desk, surgery = pair
    hygienist_rt = surgery.runtime
    with hygienist_rt.sessions() as s:
        s.add(
            SyncConflict(
                table_name="appointment", row_id="x", reason="overlap", message="m", detected_at=datetime.now(UTC)
            )
        )
        s.commit()
    [conflict] = sync_conflicts.list_open(surgery)
    hygienist = Ctx(hygienist_rt, auth.sign_in(hygienist_rt, "hygienist", STAFF_PASSWORD))

    with pytest.raises(PermissionDenied):
        sync_conflicts.resolve(hygienist, conflict.id, sync_conflicts.DISMISS)
    sync_conflicts.resolve(surgery, conflict.id, sync_conflicts.DISMISS)
    assert sync_conflicts.list_open(surgery) == []


def test_background_sync_shows_a_booking_on_the_other_workstation_within_seconds(pair: tuple[Ctx, Ctx]) -> None:
    desk, surgery = pair
    book = make_book(Ctx(desk.runtime, auth.sign_in(desk.runtime, "admin", ADMIN_PASSWORD)))
    pid = register(desk, "Mo", "Moss")
    sync.run_once(desk.runtime)
    states: list[SyncState] = []
    workers = [
        SyncWorker(desk.runtime, interval=timedelta(hours=1), watch=timedelta(seconds=0.2)),
        SyncWorker(surgery.runtime, states.append, interval=timedelta(hours=1), watch=timedelta(seconds=0.2)),
    ]
    for worker in workers:
        worker.start()
    try:
        wait_for(lambda: workers[1].state.kind == "synced" and workers[0].state.kind == "synced")
        booked = scheduling.book(desk, book.request(pid, FUTURE_MONDAY, "11:00", "11:30"))
        wait_for(lambda: booked.id in bookings(surgery.runtime))
    finally:
        for worker in workers:
            worker.stop()
    assert {s.kind for s in states} >= {"syncing", "synced"}


def test_a_change_made_just_after_the_worker_started_is_sent_at_the_first_look(pair: tuple[Ctx, Ctx]) -> None:
    desk, _surgery = pair
    worker = SyncWorker(desk.runtime, interval=timedelta(hours=1), watch=timedelta(seconds=2))
    worker.start()
    try:
        wait_for(lambda: worker.state.kind == "synced")  # the first round, well before the first look
        register(desk, "Al", "Early")
        wait_for(lambda: sync.status(desk.runtime).pending == 0, seconds=10)
    finally:
        worker.stop()


def test_a_sync_asked_for_while_a_round_runs_follows_it_at_once(pair: tuple[Ctx, Ctx]) -> None:
    desk, surgery = pair
    kinds: list[str] = []

    def seen(state: SyncState) -> None:
        kinds.append(state.kind)
        if kinds.count("syncing") == 1 and state.kind == "syncing":
            # the other workstation books while this round runs, and the live event arrives
            book = make_book(Ctx(surgery.runtime, auth.sign_in(surgery.runtime, "admin", ADMIN_PASSWORD)))
            booked.append(
                scheduling.book(
                    surgery, book.request(register(surgery, "Lu", "Lane"), FUTURE_MONDAY, "15:00", "15:30")
                ).id
            )
            sync.run_once(surgery.runtime)
            worker.trigger()

    booked: list[str] = []
    worker = SyncWorker(desk.runtime, seen, interval=timedelta(hours=1))
    worker.round()

    assert kinds.count("syncing") == 2 and kinds[-1] == "synced"
    assert booked[0] in bookings(desk.runtime)  # not left for the next interval, an hour away


def test_pulls_carry_on_when_the_database_dropped_the_services_connections(pair: tuple[Ctx, Ctx], db: Session) -> None:
    desk, surgery = pair
    pid = register(desk, "Di", "Drop")
    sync.run_once(desk.runtime)
    # as a database restart does: every pooled connection of the service dies
    db.execute(
        text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    )

    report = sync.run_once(surgery.runtime)  # nothing to push: pulls only

    assert report.pulled >= 1 and pid in patient_rows(surgery.runtime)


def audit_links(runtime: ClinicRuntime) -> set[tuple[str, int, str]]:
    with runtime.engine.connect() as conn:
        return {tuple(r) for r in conn.execute(text("SELECT workstation_id, seq, hash FROM audit_event"))}  # type: ignore[misc]


def test_each_workstations_audit_trail_reaches_the_cloud_whole(pair: tuple[Ctx, Ctx], db: Session) -> None:
    desk, surgery = pair
    register(desk, "Ada", "Audit")
    patients.search(surgery, "Audit")
    sync.run_once(desk.runtime)
    report = sync.run_once(surgery.runtime)

    clinic_id = cloud.read_settings(desk.runtime, cloud.CLOUD_CLINIC)[cloud.CLOUD_CLINIC]
    in_cloud = {
        (ws, seq, digest)
        for ws, seq, digest in db.execute(
            select(CloudAuditEvent.workstation_id, CloudAuditEvent.seq, CloudAuditEvent.hash).where(
                CloudAuditEvent.clinic_id == clinic_id
            )
        )
    }
    assert report.audit_sent > 0
    # every event of both chains, the round's own "sync.round" included, and nothing else
    assert in_cloud == audit_links(desk.runtime) | audit_links(surgery.runtime)
    assert sync.status(desk.runtime).audit_unsent == sync.status(surgery.runtime).audit_unsent == 0


def test_an_audit_trail_altered_on_the_workstation_is_refused_by_the_cloud(pair: tuple[Ctx, Ctx]) -> None:
    desk, _surgery = pair
    register(desk, "Tom", "Tamper")
    with desk.runtime.engine.begin() as conn:  # someone edits the newest event before it is sent
        conn.execute(text("UPDATE audit_event SET username = 'nobody' WHERE seq = (SELECT MAX(seq) FROM audit_event)"))

    with pytest.raises(sync.SyncFailed) as refused:
        sync.run_once(desk.runtime)

    assert not refused.value.offline
    assert "does not match its hash, so the workstation's audit trail was altered" in str(refused.value)
    assert sync.status(desk.runtime).pending == 0  # the patient itself went to the cloud before


def test_audit_events_with_long_details_go_in_requests_the_service_accepts(pair: tuple[Ctx, Ctx]) -> None:
    desk, _surgery = pair
    with Ctx(desk.runtime, None).uow() as uow:  # 12 MB of events: more than one request may carry
        for _ in range(120):
            uow.audit("test.long_details", details={"text": "x" * 100_000})
        uow.commit()

    report = sync.run_once(desk.runtime)

    assert report.audit_sent >= 120 and sync.status(desk.runtime).audit_unsent == 0


def test_a_cloud_that_lost_audit_events_is_sent_the_whole_chain_again(pair: tuple[Ctx, Ctx], db: Session) -> None:
    desk, _surgery = pair
    sync.run_once(desk.runtime)
    # as if the cloud's database were restored from a state before this workstation's events
    db.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
    db.execute(text("DELETE FROM audit_event"))
    db.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"))
    db.commit()
    register(desk, "Lou", "Lost")

    report = sync.run_once(desk.runtime)

    assert report.audit_sent == len(audit_links(desk.runtime))


def test_the_workstation_that_connected_the_clinic_takes_the_nightly_backup_until_another_is_chosen(
    pair: tuple[Ctx, Ctx],
) -> None:
    desk, surgery = pair
    assert backup_schedule.runs_here(desk.runtime)  # the clinic's first in the cloud
    assert not backup_schedule.runs_here(surgery.runtime)  # one backup a night is enough

    backup_schedule.choose(surgery.runtime, here=True, folder=None)  # an administrator moves it
    sync.run_once(surgery.runtime)
    sync.run_once(desk.runtime)

    assert backup_schedule.runs_here(surgery.runtime)
    assert not backup_schedule.runs_here(desk.runtime, sends_messages=True)  # never two a night


def test_offline_changes_wait_and_the_worker_backs_off(runtime: ClinicRuntime, staff: dict) -> None:  # type: ignore[type-arg]
    enrolled_offline(runtime)
    before = sync.status(runtime).pending
    register(staff[Role.RECEPTIONIST], "Ned", "Nash")
    worker = SyncWorker(runtime, interval=timedelta(hours=1))
    worker.scheduler.start(paused=True)
    worker.scheduler.add_job(worker.round, "interval", id="sync-round", hours=1)

    worker.round()
    first = worker.state
    worker.round()
    second = worker.state
    worker.scheduler.shutdown(wait=False)

    assert first.kind == second.kind == "offline" and first.pending == before + 1
    assert "could not be reached" in first.message
    now = datetime.now(UTC)
    assert first.retry_at is not None and second.retry_at is not None
    assert (second.retry_at - now) > (first.retry_at - now) / 2  # the wait grows (with jitter)


def test_signing_out_while_a_round_fails_offline_finishes(runtime: ClinicRuntime) -> None:
    enrolled_offline(runtime)
    stopping = threading.Thread(target=lambda: worker.stop(), daemon=True)

    def seen(state: SyncState) -> None:
        if state.kind == "syncing" and stopping.ident is None:
            # sign-out stops the worker while this round is on its way to failing offline
            stopping.start()
            wait_for(lambda: not worker.scheduler.running)
            time.sleep(0.3)

    worker = SyncWorker(runtime, seen, interval=timedelta(hours=1))
    worker.start()
    wait_for(lambda: stopping.ident is not None)
    stopping.join(timeout=20)

    assert not stopping.is_alive()  # the round's retry did not lock up the stopping worker
    assert not worker._lock.locked()


def test_the_status_says_syncing_for_as_long_as_a_round_runs(runtime: ClinicRuntime) -> None:
    with silent_cloud(runtime):  # the round hangs on the network
        worker = SyncWorker(runtime, interval=timedelta(hours=1), watch=timedelta(seconds=0.1))
        worker.start()
        wait_for(lambda: worker._lock.locked())
        time.sleep(0.5)  # the watch looked at the change log several times meanwhile

        assert worker.state.kind == "syncing"
    worker.stop()


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)
