"""Encrypted backups to a folder: a restore gives back the same clinic; damage is named."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import keyring
import pytest
import sqlcipher3
from sqlalchemy import select

from app import bootstrap
from app.db import keys
from app.db.models import AuditEvent, Patient
from app.domain.backup_format import (
    ChunkEntry,
    Manifest,
    Retention,
    chunk_name,
    encode_manifest,
    retention_keep,
)
from app.domain.patients import PatientInput
from app.services import audit, auth, backup, demo, patients
from app.services.context import Ctx
from app.services.runtime import ClinicRuntime
from tests.conftest import ADMIN_PASSWORD, PASSPHRASE, STAFF_PASSWORD, MemoryKeyring

REPO = Path(__file__).resolve().parents[2]
XRAY_MARKER = b"SYNTHETIC-XRAY-PIXELS-"
WRONG_PASSPHRASE = "incorrect horse battery staple"


def _add_stored_files(data_dir: Path) -> None:
    """Stand-ins for stored images and documents (content-addressed files under the data dir)."""
    xray = XRAY_MARKER * 50_000  # ~1.1 MB
    for content in (xray, b"%PDF-1.7 synthetic consent form\n" * 300, b""):
        digest = hashlib.sha256(content).hexdigest()
        folder = data_dir / "files" / digest[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / digest).write_bytes(content)


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClinicRuntime]:
    """A demo clinic (50 patients, a year of bookings) with some stored files, made once.

    Its key is not in the tests' keyrings: backups of it are made with the passphrase.
    """
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        rt = bootstrap.create_clinic(
            tmp_path_factory.mktemp("backup") / "clinic",
            clinic_name="Backup Dental",
            passphrase=PASSPHRASE,
            admin_password=ADMIN_PASSWORD,
        )
        demo.seed(rt, patients=50, staff_password=STAFF_PASSWORD)
    finally:
        keyring.set_keyring(previous)
    _add_stored_files(rt.data_dir)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def made(clinic: ClinicRuntime, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One backup of the clinic, made once; tests that damage it work on a copy."""
    folder = tmp_path_factory.mktemp("made") / "backups"
    report = backup.create(clinic, backup.FolderStore(folder), passphrase=lambda: PASSPHRASE)
    return folder, report.backup_id


@pytest.fixture
def copy_of_made(made: tuple[Path, str], tmp_path: Path) -> tuple[backup.FolderStore, str]:
    folder, backup_id = made
    shutil.copytree(folder, tmp_path / "backups")
    return backup.FolderStore(tmp_path / "backups"), backup_id


def db_key(data_dir: Path) -> bytes:
    return keys.unwrap_key(keys.read_key_file(data_dir / "clinic.key"), PASSPHRASE)


def table_hashes(data_dir: Path, *, audit_upto: int | None = None) -> dict[str, str]:
    """SHA-256 of every table's rows (sorted), read straight from the encrypted file."""
    conn = sqlcipher3.connect(str(data_dir / "clinic.db"))
    try:
        conn.execute(f'PRAGMA key = "{keys.sqlcipher_key_literal(db_key(data_dir))}"')
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {}
        for name in names:
            if name == "audit_head":
                continue  # moves with every event; the chain check covers it
            where = f" WHERE seq <= {audit_upto}" if name == "audit_event" and audit_upto is not None else ""
            rows = sorted(repr(r) for r in conn.execute(f'SELECT * FROM "{name}"{where}'))
            out[name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
        return out
    finally:
        conn.close()


def audit_seq(data_dir: Path) -> int:
    conn = sqlcipher3.connect(str(data_dir / "clinic.db"))
    try:
        conn.execute(f'PRAGMA key = "{keys.sqlcipher_key_literal(db_key(data_dir))}"')
        return int(conn.execute("SELECT max(seq) FROM audit_event").fetchone()[0])
    finally:
        conn.close()


def file_hashes(data_dir: Path) -> dict[str, str]:
    return {rel: hashlib.sha256((data_dir / rel).read_bytes()).hexdigest() for rel in backup.stored_files(data_dir)}


def test_backup_then_restore_on_an_empty_folder_gives_the_same_rows_and_files(clinic, tmp_path, memory_keyring):
    rows_before = table_hashes(clinic.data_dir)
    seq_before = audit_seq(clinic.data_dir)
    files_before = file_hashes(clinic.data_dir)
    assert len(files_before) == 3 and rows_before["patient"]
    store = backup.FolderStore(tmp_path / "usb")
    made = backup.create(clinic, store, passphrase=lambda: PASSPHRASE)
    assert made.files == 4 and not made.resumed

    restored = backup.restore(store, None, tmp_path / "new-machine" / "clinic", PASSPHRASE)
    to = restored.to_dir
    assert restored.backup_id == made.backup_id
    assert table_hashes(to, audit_upto=seq_before) == rows_before
    assert file_hashes(to) == files_before
    assert sorted(p.name for p in to.iterdir()) == ["clinic.db", "clinic.key", "files"]

    # a new machine: an empty keyring, only the passphrase
    memory_keyring.store.clear()
    with pytest.raises(bootstrap.PassphraseNeeded):
        bootstrap.open_clinic(to, lambda: None)
    rt = bootstrap.open_clinic(to, lambda: PASSPHRASE)
    try:
        assert rt.info.name == "Backup Dental"
        assert audit.verify(rt) is None
        assert auth.sign_in(rt, "admin", ADMIN_PASSWORD).username == "admin"
        with rt.sessions() as s:
            last = s.scalars(select(AuditEvent).where(AuditEvent.seq == seq_before + 1)).one()
        assert (last.action, last.entity_id) == ("backup.restored", made.backup_id)
        assert "patient" not in last.details
    finally:
        rt.close()


def test_the_backup_folder_holds_no_plaintext_and_no_key(made):
    folder, backup_id = made
    blobs = [p.read_bytes() for p in (folder / backup_id).iterdir()]
    assert len(blobs) >= 3
    for blob in blobs:
        assert XRAY_MARKER not in blob
        assert b"SQLite format 3" not in blob
        assert PASSPHRASE.encode() not in blob
    manifest = json.loads((folder / backup_id / "manifest.json").read_bytes())
    body = manifest["body"]
    assert body["clinic_name"] == "Backup Dental" and body["backup_id"] == backup_id
    assert "files" not in body  # the file list is sealed: names and hashes stay private
    assert body["key_file"]["wrapped_key"]  # the key, only as the passphrase wraps it


def test_verify_restores_and_checks_everything_and_is_audited(clinic, made):
    folder, backup_id = made
    store = backup.FolderStore(folder)
    report = backup.verify(store, None, PASSPHRASE, runtime=clinic)
    assert report.backup_id == backup_id and report.files == 4
    passed, _when = backup.verification_status(clinic)[backup_id]
    assert passed
    # the nightly check has no passphrase: the clinic's own key opens its backups too
    assert backup.verify(store, backup_id, db_key=db_key(clinic.data_dir), runtime=clinic).backup_id == backup_id
    # the scratch copy is gone
    assert not [p for p in clinic.data_dir.iterdir() if p.name.startswith(backup.VERIFY_SCRATCH_PREFIX)]


def _flip_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _damage(folder: Path, how: str) -> str:
    """Damage the backup in `folder` and return what the refusal must say."""
    if how == "flipped byte":
        _flip_byte(folder / chunk_name(3), 1_000_000)
        return "chunk 3 is damaged (authentication failed)"
    if how == "truncated chunk":
        path = folder / chunk_name(2)
        path.write_bytes(path.read_bytes()[:4096])
        return "chunk 2 is truncated (4096 of"
    if how == "deleted chunk":
        (folder / chunk_name(4)).unlink()
        return "chunk 4 is missing"
    if how == "swapped chunks":
        a, b = folder / chunk_name(1), folder / chunk_name(2)
        data_a, data_b = a.read_bytes(), b.read_bytes()
        a.write_bytes(data_b)
        b.write_bytes(data_a)
        return "chunk 1 is damaged (authentication failed); chunk 2 is damaged (authentication failed)"
    if how == "edited manifest":
        path = folder / "manifest.json"
        manifest = json.loads(path.read_bytes())
        manifest["body"]["created_at"] = "2020-01-01T00:00:00+00:00"
        path.write_text(json.dumps(manifest))
        return "its manifest has been altered or damaged (authentication failed)"
    if how == "garbled manifest":
        (folder / "manifest.json").write_bytes(b'{"body": {"format": "chairs')
        return "its manifest is damaged"
    raise AssertionError(how)


DAMAGE = ["flipped byte", "truncated chunk", "deleted chunk", "swapped chunks", "edited manifest", "garbled manifest"]


@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_backups_are_refused_by_verify_and_restore_naming_the_damage(clinic, copy_of_made, tmp_path, how):
    store, backup_id = copy_of_made
    expected = _damage(store.root / backup_id, how)
    with pytest.raises(backup.BackupDamaged) as caught:
        backup.verify(store, backup_id, PASSPHRASE, runtime=clinic)
    assert str(caught.value).startswith(f"Backup {backup_id}: ")
    assert expected in str(caught.value)
    assert backup.verification_status(clinic)[backup_id][0] is False

    target = tmp_path / "restored"
    with pytest.raises(backup.BackupDamaged) as caught:
        backup.restore(store, backup_id, target, PASSPHRASE)
    assert expected.split(";")[0] in str(caught.value)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["backups"]  # no half-restored leftovers


def test_verify_reports_every_damaged_chunk_and_the_files_they_hold(copy_of_made):
    store, backup_id = copy_of_made
    _flip_byte(store.root / backup_id / chunk_name(1), 50)
    (store.root / backup_id / chunk_name(5)).unlink()
    with pytest.raises(backup.BackupDamaged) as caught:
        backup.verify(store, backup_id, PASSPHRASE)
    message = str(caught.value)
    assert "chunk 1 is damaged (authentication failed)" in message
    assert "chunk 5 is missing" in message
    assert "damaged files: " in message and "clinic.db" in message


def test_a_wrong_passphrase_is_refused_clearly_and_writes_nothing(copy_of_made, tmp_path):
    store, backup_id = copy_of_made
    with pytest.raises(backup.BackupPassphraseWrong, match="that recovery passphrase does not open it"):
        backup.verify(store, backup_id, WRONG_PASSPHRASE)
    with pytest.raises(backup.BackupPassphraseWrong, match="Backup Dental"):
        backup.restore(store, None, tmp_path / "restored", WRONG_PASSPHRASE)
    assert not (tmp_path / "restored").exists()


def test_restore_never_overwrites_a_clinic_unless_told_to(copy_of_made, runtime, clinic_dir, tmp_path):
    store, backup_id = copy_of_made
    runtime.close()
    before = hashlib.sha256((clinic_dir / "clinic.db").read_bytes()).hexdigest()
    with pytest.raises(backup.RestoreRefused, match="already holds a clinic"):
        backup.restore(store, backup_id, clinic_dir, PASSPHRASE)
    assert hashlib.sha256((clinic_dir / "clinic.db").read_bytes()).hexdigest() == before

    other = tmp_path / "not-empty"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(backup.RestoreRefused, match="is not empty"):
        backup.restore(store, backup_id, other, PASSPHRASE)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert backup.restore(store, backup_id, empty, PASSPHRASE).replaced is None

    done = backup.restore(store, backup_id, clinic_dir, PASSPHRASE, overwrite=True)
    assert done.replaced is not None and done.replaced.name.startswith("clinic.before-restore-")
    assert hashlib.sha256((done.replaced / "clinic.db").read_bytes()).hexdigest() == before
    rt = bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)
    try:
        assert rt.info.name == "Backup Dental"
    finally:
        rt.close()


class FailingStore(backup.FolderStore):
    """A folder whose disk goes away after a few chunks (unplugged USB disk)."""

    def __init__(self, root: Path, fail_after: int) -> None:
        super().__init__(root)
        self.left = fail_after
        self.lock = threading.Lock()

    def put_chunk(self, backup_id: str, index: int, data: bytes) -> None:
        with self.lock:
            self.left -= 1
            if self.left < 0:
                raise OSError(5, "Input/output error")
        super().put_chunk(backup_id, index, data)


def test_an_interrupted_backup_resumes_where_it_stopped_and_verifies(clinic, tmp_path):
    folder = tmp_path / "usb"
    with pytest.raises(backup.BackupError, match="Run it again to resume"):
        backup.create(clinic, FailingStore(folder, fail_after=3), passphrase=lambda: PASSPHRASE)
    store = backup.FolderStore(folder)
    assert store.list_backups() == []
    [partial] = store.list_partials()
    written = sorted((folder / f"{partial}.partial").glob("chunk-*.bin"))
    assert len(written) >= 3
    _flip_byte(written[0], 100)  # and one of them was damaged by the failing disk

    resumed = backup.create(clinic, store, passphrase=lambda: PASSPHRASE)
    assert resumed.backup_id == partial and resumed.resumed
    assert resumed.chunks_reused == len(written) - 1
    assert store.list_partials() == [] and store.list_backups() == [partial]
    assert not list((clinic.data_dir / backup.STAGING).glob("*/clinic.db"))  # snapshot removed
    assert backup.verify(store, partial, PASSPHRASE).backup_id == partial


def test_a_partial_without_its_snapshot_is_started_afresh(clinic, tmp_path):
    folder = tmp_path / "usb"
    with pytest.raises(backup.BackupError):
        backup.create(clinic, FailingStore(folder, fail_after=1), passphrase=lambda: PASSPHRASE)
    shutil.rmtree(clinic.data_dir / backup.STAGING)
    store = backup.FolderStore(folder)
    [stale] = store.list_partials()
    fresh = backup.create(clinic, store, passphrase=lambda: PASSPHRASE)
    assert fresh.backup_id != stale and not fresh.resumed
    assert store.list_partials() == []  # this workstation's stale partial was cleared away


def test_a_backup_taken_while_staff_keep_working_is_consistent(runtime, tmp_path):
    admin = Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))
    patients.register(admin, PatientInput("Ada", "Lovelace", "12/10/1985"))
    stop = threading.Event()
    registered = []

    def keep_registering() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            registered.append(patients.register(admin, PatientInput(f"Pat{n}", "Busy", "01/02/1990")))

    worker = threading.Thread(target=keep_registering)
    worker.start()
    try:
        store = backup.FolderStore(tmp_path / "nas")
        made = backup.create(runtime, store)  # the key comes from the keyring: no passphrase
    finally:
        stop.set()
        worker.join()
    assert registered
    backup.verify(store, made.backup_id, PASSPHRASE)  # integrity check and audit chain intact
    to = backup.restore(store, made.backup_id, tmp_path / "restored", PASSPHRASE).to_dir
    rt = bootstrap.open_clinic(to, lambda: PASSPHRASE)
    try:
        assert audit.verify(rt) is None
    finally:
        rt.close()


def test_snapshots_copied_while_the_log_is_checkpointed_hold_every_row_committed_before(runtime, tmp_path):
    """The database is copied byte for byte while writers fill the write-ahead log and
    SQLite checkpoints it into the file being copied; every backup must still be whole."""
    admin = Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))
    ids = [patients.register(admin, PatientInput(f"Pat{n}", "Busy", "01/02/1990")).id for n in range(40)]
    stop = threading.Event()
    written = [0]

    def keep_writing() -> None:  # a few hundred KB a second: auto-checkpoints every second or so
        while not stop.is_set():
            with runtime.write_lock, runtime.sessions() as s:  # one writer at a time, as the services do
                for pid in ids:
                    s.get(Patient, pid).notes = f"round {written[0] + 1:06d} " + os.urandom(3000).hex()
                s.commit()
            written[0] += 1
            time.sleep(0.005)  # let the backup's own writes (its audit event) have the lock too

    worker = threading.Thread(target=keep_writing)
    worker.start()
    store = backup.FolderStore(tmp_path / "nas")
    made = []  # each backup, and the writing rounds committed before it began
    try:
        for _ in range(5):
            target = written[0] + 2  # the log has grown since the last backup
            while written[0] < target:
                time.sleep(0.01)
            committed = written[0]
            made.append((backup.create(runtime, store), committed))
    finally:
        stop.set()
        worker.join()
    for report, committed in made:
        backup.verify(store, report.backup_id, PASSPHRASE)  # SQLite's integrity check and the audit chain
        restored = backup.restore(store, report.backup_id, tmp_path / report.backup_id, PASSPHRASE).to_dir
        rt = bootstrap.open_clinic(restored, lambda: PASSPHRASE)
        try:
            with rt.sessions() as s:
                rounds = {int(s.get(Patient, pid).notes.split()[1]) for pid in ids}
        finally:
            rt.close()
        assert len(rounds) == 1 and rounds.pop() >= committed  # one whole round, none older than the backup


def test_backups_are_not_kept_inside_the_clinic_folder(runtime, clinic_dir):
    with pytest.raises(backup.BackupError, match="Keep backups outside the clinic's folder"):
        backup.create(runtime, backup.FolderStore(clinic_dir / "backups"))


def test_another_clinics_backup_is_not_verified_as_this_ones(clinic, made, runtime):
    folder, backup_id = made
    with pytest.raises(backup.BackupError, match="is not this clinic's"):
        backup.verify(backup.FolderStore(folder), backup_id, PASSPHRASE, runtime=runtime)
    with pytest.raises(backup.BackupNotFound, match="no backups of this clinic"):
        backup.verify(backup.FolderStore(folder), None, PASSPHRASE, runtime=runtime)


def test_backups_of_a_folder_that_is_not_there_are_refused_clearly(runtime, tmp_path):
    with pytest.raises(backup.BackupFolderMissing, match="is the disk plugged in"):
        backup.create(runtime, backup.FolderStore(tmp_path / "unplugged" / "backups"))
    with pytest.raises(backup.BackupFolderMissing):
        backup.restore(backup.FolderStore(tmp_path / "unplugged"), None, tmp_path / "to", PASSPHRASE)


def test_throughput_is_measured_and_the_measuring_backup_removed(runtime, tmp_path):
    figures = backup.measure_throughput(runtime, tmp_path / "bench")
    assert figures["backup_mb_per_s"] > 0 and figures["backup_mb"] > 0 and figures["backup_s"] > 0
    assert backup.FolderStore(tmp_path / "bench").list_backups() == []


# --- retention -----------------------------------------------------------------------------


def _daily(days: int, last: date) -> list[tuple[str, datetime]]:
    return [
        (f"b-{d:%m%d}", datetime(d.year, d.month, d.day, 2, 0, tzinfo=UTC))
        for d in (last - timedelta(days=n) for n in range(days))
    ]


def test_retention_on_sixty_nightly_backups_keeps_exactly_the_expected_ones():
    backups = _daily(60, date(2026, 3, 1))  # 1 Jan .. 1 Mar 2026; 1 Mar is a Sunday
    assert backups[-1][0] == "b-0101"
    keep = retention_keep(backups, Retention(daily=7, weekly=4, monthly=12))
    assert keep == {
        # the last seven days
        "b-0301", "b-0228", "b-0227", "b-0226", "b-0225", "b-0224", "b-0223",
        # the newest of ISO weeks 9 (b-0301, above), 8, 7 and 6
        "b-0222", "b-0215", "b-0208",
        # the newest of March (b-0301), February (b-0228) and January
        "b-0131",
    }  # fmt: skip


def test_retention_counts_only_periods_that_have_backups_and_keeps_the_newest():
    # a workstation off for three weeks: the old dailies are not all thrown away
    backups = _daily(5, date(2026, 3, 1)) + _daily(5, date(2026, 2, 1))
    assert retention_keep(backups, Retention(daily=7, weekly=0, monthly=0)) == {
        "b-0301", "b-0228", "b-0227", "b-0226", "b-0225", "b-0201", "b-0131",
    }  # fmt: skip
    assert retention_keep(backups, Retention(0, 0, 0)) == {"b-0301"}
    assert retention_keep([], Retention()) == set()


class ListedStore(backup.FolderStore):
    """Manifests only: enough for listing and retention."""

    def __init__(self, manifests: dict[str, bytes]) -> None:
        super().__init__(Path("/nonexistent"))
        self.manifests = manifests

    def list_backups(self) -> list[str]:
        return sorted(self.manifests)

    def get_manifest(self, backup_id: str) -> bytes:
        return self.manifests[backup_id]

    def delete(self, backup_id: str) -> None:
        del self.manifests[backup_id]


def _manifest(backup_id: str, clinic_id: str, created: datetime) -> bytes:
    m = Manifest(
        backup_id, clinic_id, "Clinic", created.isoformat(), "ws", "0.1.0", "0005", {}, b"s" * 16,
        8, (ChunkEntry(1, 36, 8, "0" * 64),), 8, 36, b"n" * 12, b"sealed",
    )  # fmt: skip
    return encode_manifest(m, b"mac")


def test_apply_retention_deletes_only_this_clinics_readable_backups(runtime):
    mine = {f"202601{day:02d}T020000Z-aaaaaa": datetime(2026, 1, day, 2, tzinfo=UTC) for day in range(1, 11)}
    manifests = {backup_id: _manifest(backup_id, "mine", created) for backup_id, created in mine.items()}
    theirs = "20260105T030000Z-bbbbbb"
    manifests[theirs] = _manifest(theirs, "theirs", datetime(2026, 1, 5, tzinfo=UTC))
    manifests["20260102T030000Z-cccccc"] = b"not a manifest"
    store = ListedStore(manifests)
    deleted = backup.apply_retention(store, "mine", daily=3, weekly=0, monthly=0, runtime=runtime)
    assert deleted == [f"202601{day:02d}T020000Z-aaaaaa" for day in range(1, 8)]
    assert sorted(store.manifests) == [
        "20260102T030000Z-cccccc",
        "20260105T030000Z-bbbbbb",
        "20260108T020000Z-aaaaaa",
        "20260109T020000Z-aaaaaa",
        "20260110T020000Z-aaaaaa",
    ]
    with runtime.sessions() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "backup.pruned")).one()
    assert json.loads(event.details)["deleted"] == deleted


# --- the command line ----------------------------------------------------------------------


def chairside(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "CHAIRSIDE_RECOVERY_PASSPHRASE": PASSPHRASE,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO,
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_backup_commands_create_list_verify_and_restore(runtime, clinic_dir, tmp_path):
    admin = Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))
    patients.register(admin, PatientInput("Ada", "Lovelace", "12/10/1985"))
    runtime.close()
    _add_stored_files(clinic_dir)
    usb = tmp_path / "usb"
    usb.mkdir()
    common = ("--data-dir", str(clinic_dir), "--folder", str(usb))

    created = chairside("backup", "create", *common)
    assert created.returncode == 0, created.stderr
    [backup_id] = backup.FolderStore(usb).list_backups()
    assert f"Backup {backup_id} written to {usb}: 4 files" in created.stdout

    listed = chairside("backup", "list", *common)
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if line.startswith(backup_id)]
    assert row.split()[-1] == "no"

    checked = chairside("backup", "verify", *common, backup_id)
    assert checked.returncode == 0, checked.stderr
    assert f"Backup {backup_id}" in checked.stdout and "is intact" in checked.stdout
    listed = chairside("backup", "list", *common)
    assert f"{backup_id}" in listed.stdout and " yes (" in listed.stdout

    target = tmp_path / "new-machine"
    restored = chairside("backup", "restore", "--folder", str(usb), "--to", str(target))
    assert restored.returncode == 0, restored.stderr
    assert f"Restored backup {backup_id}" in restored.stdout
    assert file_hashes(target) == file_hashes(clinic_dir)

    again = chairside("backup", "restore", "--folder", str(usb), "--to", str(target), backup_id)
    assert again.returncode == 2
    assert "already holds a clinic" in again.stderr and "Traceback" not in again.stderr
    forced = chairside("backup", "restore", "--folder", str(usb), "--to", str(target), backup_id, "--overwrite")
    assert forced.returncode == 0, forced.stderr
    assert "is kept in" in forced.stdout

    wrong = chairside(
        "backup", "restore", "--folder", str(usb), "--to", str(tmp_path / "x"),
        CHAIRSIDE_RECOVERY_PASSPHRASE=WRONG_PASSPHRASE,
    )  # fmt: skip
    assert wrong.returncode == 2
    assert "that recovery passphrase does not open it" in wrong.stderr

    _flip_byte(usb / backup_id / chunk_name(1), 200)
    damaged = chairside("backup", "verify", *common)
    assert damaged.returncode == 1
    assert f"Backup {backup_id}: chunk 1 is damaged (authentication failed)" in damaged.stderr
    assert "Traceback" not in damaged.stderr


def test_backup_create_with_retention_and_clear_errors(runtime, clinic_dir, tmp_path):
    runtime.close()
    usb = tmp_path / "usb"
    usb.mkdir()
    common = ("--data-dir", str(clinic_dir), "--folder", str(usb))
    first = chairside("backup", "create", *common)
    assert first.returncode == 0, first.stderr
    second = chairside("backup", "create", *common, "--keep-daily", "1")
    assert second.returncode == 0, second.stderr
    assert "Retention deleted 1 older backups" in second.stdout
    assert len(backup.FolderStore(usb).list_backups()) == 1

    missing = chairside("backup", "create", "--data-dir", str(clinic_dir), "--folder", str(tmp_path / "a" / "b"))
    assert missing.returncode == 2 and "does not exist or is not reachable" in missing.stderr
    no_secret = chairside(
        "backup", "restore", "--folder", str(usb), "--to", str(tmp_path / "r"), CHAIRSIDE_RECOVERY_PASSPHRASE=""
    )
    assert no_secret.returncode == 2 and "recovery passphrase is needed" in no_secret.stderr
    bad_id = chairside("backup", "verify", *common, "yesterday")
    assert bad_id.returncode == 2 and "is not a backup id" in bad_id.stderr
