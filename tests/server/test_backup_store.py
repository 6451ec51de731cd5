"""Encrypted backups in the cloud: a real clinic's backup through CloudStore to the real service.

The service runs in uvicorn on loopback over this module's PostgreSQL database, keeping
backups in a temporary BACKUP_DIR; the workstation side is the product's own code
(backup.create/verify/restore over CloudStore, and the `chairside` command).
"""

import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import keyring
import keyring.backends.fail
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import bootstrap
from app.domain.backup_format import chunk_name
from app.domain.patients import PatientInput
from app.services import auth, backup, cloud, patients
from app.services.backup_cloud import CloudStore, restore_from_cloud
from app.services.context import Ctx
from app.services.runtime import ClinicRuntime
from sync.backups import CHUNK_SHA256_HEADER
from sync.client import CloudClient
from sync.server.app import create_app
from sync.server.config import Settings
from sync.server.db import make_engine
from sync.server.models import Device
from sync.server.services import clinics, devices
from tests.conftest import ADMIN_PASSWORD, PASSPHRASE, MemoryKeyring
from tests.integration.test_backup import WRONG_PASSPHRASE, audit_seq, chairside, file_hashes, table_hashes
from tests.server.conftest import Cloud, TestClient
from tests.server.workstations import Served, serve

MARKER = b"SYNTHETIC-XRAY-PIXELS-"
LAST_NAME = "Fairweather"
MiB = 1024 * 1024
SMALL_CHUNK = 256 * 1024


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backup_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cloud") / "backups"


@pytest.fixture(scope="module")
def service(database_url: str, backup_dir: Path) -> Iterator[Served]:
    with serve(Settings(database_url=database_url, backup_dir=backup_dir, enrol_rate_per_minute=10_000)) as served:
        yield served


@pytest.fixture(scope="module")
def cloud_db(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClinicRuntime]:
    """A small encrypted clinic with a patient and a 9 MiB stored image (two 8 MiB chunks' worth).

    Its key is in no test's keyring: backups of it are made with the recovery passphrase.
    """
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        rt = bootstrap.create_clinic(
            tmp_path_factory.mktemp("cloud-clinic") / "clinic",
            clinic_name="Cloud Dental",
            passphrase=PASSPHRASE,
            admin_password=ADMIN_PASSWORD,
        )
    finally:
        keyring.set_keyring(previous)
    admin = Ctx(rt, auth.sign_in(rt, "admin", ADMIN_PASSWORD))
    patients.register(admin, PatientInput("Ottilie", LAST_NAME, "03/04/1977"))
    add_stored_files(rt.data_dir)
    yield rt
    rt.close()


def add_stored_files(data_dir: Path) -> None:
    for content in (MARKER + os.urandom(9 * MiB), b"%PDF-1.7 synthetic consent form\n" * 300):
        digest = hashlib.sha256(content).hexdigest()
        folder = data_dir / "files" / digest[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / digest).write_bytes(content)


def workstation(db: Session, clinic_id: str, name: str = "Front desk") -> str:
    """A new enrolled workstation's device token."""
    return devices.enrol(db, clinics.create_enrol_code(db, clinic_id), name).token


@pytest.fixture
def stores(service: Served) -> Iterator[list[CloudStore]]:
    """Made by `open_store`; their connections closed after the test."""
    made: list[CloudStore] = []
    yield made
    for store in made:
        store.client.close()


def open_store(
    made: list[CloudStore], url: str, token: str, transport: httpx.BaseTransport | None = None
) -> CloudStore:
    store = CloudStore(CloudClient(url, token, transport=transport), retry_delays=(0, 0))
    made.append(store)
    return store


@dataclass
class Uploaded:
    store: CloudStore
    token: str
    backup_id: str
    folder: Path  # on the server's disk


@pytest.fixture(scope="module")
def uploaded(service: Served, cloud_db: Session, clinic: ClinicRuntime, backup_dir: Path) -> Iterator[Uploaded]:
    """One backup in small chunks, made once."""
    cloud_clinic = clinics.create_clinic(cloud_db, "Uploaded Dental").id
    token = workstation(cloud_db, cloud_clinic)
    store = CloudStore(CloudClient(service.url, token), retry_delays=(0, 0))
    made = backup.create(clinic, store, passphrase=lambda: PASSPHRASE, chunk_size=SMALL_CHUNK)
    yield Uploaded(store, token, made.backup_id, backup_dir / cloud_clinic / made.backup_id)
    store.client.close()


# --- transports that lose the connection -------------------------------------------------------


def _chunk_put(request: httpx.Request) -> int | None:
    parts = request.url.path.split("/")
    return int(parts[-1]) if request.method == "PUT" and parts[-2:-1] == ["chunks"] else None


class Recording(httpx.HTTPTransport):
    """Notes the chunk numbers it uploads."""

    def __init__(self) -> None:
        super().__init__()
        self.put: list[int] = []
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        index = _chunk_put(request)
        if index is not None:
            with self.lock:
                self.put.append(index)
        return super().handle_request(request)


class DropsAfter(Recording):
    """The connection goes away for good after `uploads` chunk uploads."""

    def __init__(self, uploads: int) -> None:
        super().__init__()
        self.left = uploads

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            if self.left <= 0:
                raise httpx.ConnectError("network unreachable (test)")
            if _chunk_put(request) is not None:
                self.left -= 1
        return super().handle_request(request)


class Blips(Recording):
    """Each chunk's first upload fails to connect; the retry gets through."""

    def __init__(self) -> None:
        super().__init__()
        self.failed: set[int] = set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        index = _chunk_put(request)
        if index is not None and index not in self.failed:
            with self.lock:
                self.failed.add(index)
            raise httpx.ConnectError("connection reset (test)")
        return super().handle_request(request)


# --- round trip ----------------------------------------------------------------------------------


def test_a_backup_in_the_cloud_lists_verifies_and_restores_as_the_same_rows_and_files(
    service: Served,
    cloud_db: Session,
    clinic: ClinicRuntime,
    stores: list[CloudStore],
    backup_dir: Path,
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    cloud_clinic = clinics.create_clinic(cloud_db, "Cloud Dental").id
    store = open_store(stores, service.url, workstation(cloud_db, cloud_clinic))
    rows_before, seq_before, files_before = (
        table_hashes(clinic.data_dir),
        audit_seq(clinic.data_dir),
        file_hashes(clinic.data_dir),
    )

    made = backup.create(clinic, store, passphrase=lambda: PASSPHRASE)

    assert made.chunks >= 2 and not made.resumed  # full 8 MiB chunks got past the body limit
    assert store.list_backups() == [made.backup_id] and store.list_partials() == []
    [listed] = backup.list_backups(store, clinic.info.clinic_id)
    assert (listed.backup_id, listed.clinic_name) == (made.backup_id, "Cloud Dental")
    assert listed.total_size == made.total_size
    assert backup.verify(store, made.backup_id, PASSPHRASE).files == 3

    memory_keyring.store.clear()  # a new machine: nothing but the passphrase
    restored = backup.restore(store, None, tmp_path / "new-machine" / "clinic", PASSPHRASE)
    assert restored.backup_id == made.backup_id
    assert table_hashes(restored.to_dir, audit_upto=seq_before) == rows_before
    assert file_hashes(restored.to_dir) == files_before
    assert sorted(p.name for p in restored.to_dir.iterdir()) == ["clinic.db", "clinic.key", "files"]

    # the cloud holds ciphertext only, laid out like a backup folder; its logs hold no patient data
    stored = [p.read_bytes() for p in (backup_dir / cloud_clinic).rglob("*") if p.is_file()]
    assert len(stored) == made.chunks + 1
    assert not any(MARKER in blob or LAST_NAME.encode() in blob for blob in stored)
    assert backup.FolderStore(backup_dir / cloud_clinic).list_backups() == [made.backup_id]
    assert caplog.records and not any(LAST_NAME in str(record.__dict__) for record in caplog.records)


# --- dropped connections and resuming ------------------------------------------------------------


def test_a_connection_dropped_mid_upload_resumes_without_sending_finished_chunks_again(
    service: Served, cloud_db: Session, clinic: ClinicRuntime, stores: list[CloudStore]
) -> None:
    token = workstation(cloud_db, clinics.create_clinic(cloud_db, "Flaky Dental").id)
    dropping = DropsAfter(uploads=5)

    with pytest.raises(backup.BackupError, match=r"connection was lost .*\. Run it again to resume where it stopped"):
        backup.create(
            clinic,
            open_store(stores, service.url, token, dropping),
            passphrase=lambda: PASSPHRASE,
            chunk_size=SMALL_CHUNK,
        )

    recording = Recording()
    store = open_store(stores, service.url, token, recording)
    assert store.list_backups() == [] and len(store.list_partials()) == 1
    resumed = backup.create(clinic, store, passphrase=lambda: PASSPHRASE, chunk_size=SMALL_CHUNK)
    assert resumed.resumed and resumed.backup_id == store.list_backups()[0]
    assert resumed.chunks_reused == 5
    assert sorted(dropping.put + recording.put) == list(range(1, resumed.chunks + 1))  # each chunk sent once
    assert store.list_partials() == []
    assert backup.verify(store, resumed.backup_id, PASSPHRASE).backup_id == resumed.backup_id


def test_a_chunk_upload_that_fails_to_connect_is_retried(
    service: Served, cloud_db: Session, clinic: ClinicRuntime, stores: list[CloudStore]
) -> None:
    blips = Blips()
    store = open_store(stores, service.url, workstation(cloud_db, clinics.create_clinic(cloud_db, "Blip").id), blips)

    made = backup.create(clinic, store, passphrase=lambda: PASSPHRASE, chunk_size=SMALL_CHUNK)

    assert not made.resumed and blips.failed == set(range(1, made.chunks + 1))
    assert store.list_backups() == [made.backup_id]


# --- damage ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunk", "damage", "expected"),
    [
        (3, "flip", "chunk 3 is damaged (authentication failed)"),
        (2, "truncate", "chunk 2 is truncated (4096 of"),
        (4, "delete", "chunk 4 is missing"),
    ],
)
def test_damage_on_the_servers_disk_is_named_by_verify_and_refused_by_restore(
    uploaded: Uploaded, tmp_path: Path, chunk: int, damage: str, expected: str
) -> None:
    store, backup_id = uploaded.store, uploaded.backup_id
    path = uploaded.folder / chunk_name(chunk)
    original = path.read_bytes()
    try:
        if damage == "flip":
            path.write_bytes(original[:1000] + bytes([original[1000] ^ 1]) + original[1001:])
        elif damage == "truncate":
            path.write_bytes(original[:4096])
        else:
            path.unlink()
        with pytest.raises(backup.BackupDamaged, match=rf"^Backup {backup_id}: .*{re.escape(expected)}"):
            backup.verify(store, backup_id, PASSPHRASE)
        with pytest.raises(backup.BackupDamaged, match=re.escape(expected.split(" (")[0])):
            backup.restore(store, backup_id, tmp_path / "restored", PASSPHRASE)
        assert not (tmp_path / "restored").exists()
    finally:
        path.write_bytes(original)
    assert backup.verify(store, backup_id, PASSPHRASE).backup_id == backup_id


def test_a_chunk_that_does_not_match_its_checksum_is_refused_and_not_stored(
    service: Served, cloud_db: Session, backup_dir: Path
) -> None:
    cloud_clinic = clinics.create_clinic(cloud_db, "Checksums").id
    headers = {"Authorization": f"Bearer {workstation(cloud_db, cloud_clinic)}"}
    backup_id = "20260314T020000Z-a1b2c3"
    data = os.urandom(10_000)
    with httpx.Client(base_url=service.url, headers=headers) as http:
        assert http.put(f"/v1/backup-uploads/{backup_id}", content=b"{}").status_code == 204
        truncated = http.put(
            f"/v1/backup-uploads/{backup_id}/chunks/1",
            content=data[:4096],
            headers={CHUNK_SHA256_HEADER: hashlib.sha256(data).hexdigest()},
        )
        early = http.put(f"/v1/backup-uploads/{backup_id}/manifest", params={"chunks": 1}, content=b"{}")
        digest = http.get(f"/v1/backup-uploads/{backup_id}/chunks/1/sha256").json()
        for _ in range(2):  # a retry of a stored chunk is harmless
            sent = http.put(
                f"/v1/backup-uploads/{backup_id}/chunks/1",
                content=data,
                headers={CHUNK_SHA256_HEADER: hashlib.sha256(data).hexdigest()},
            )
            assert sent.status_code == 204, sent.text
        done = [http.put(f"/v1/backup-uploads/{backup_id}/manifest", params={"chunks": 1}, content=b"{}")]
        done.append(http.put(f"/v1/backup-uploads/{backup_id}/manifest", params={"chunks": 1}, content=b"{}"))
        chunk = http.get(f"/v1/backups/{backup_id}/chunks/1")

    assert truncated.status_code == 400
    assert "Chunk 1 of backup 20260314T020000Z-a1b2c3 arrived damaged" in truncated.json()["detail"]
    assert early.status_code == 409 and "chunks 1 were not uploaded" in early.json()["detail"]
    assert digest == {"sha256": None}
    assert [d.status_code for d in done] == [204, 204]  # completing again (a lost reply) is fine too
    assert chunk.content == data
    assert [p.name for p in (backup_dir / cloud_clinic).iterdir()] == [backup_id]


# --- tenants and ids -------------------------------------------------------------------------------


def test_one_clinic_cannot_see_read_or_delete_anothers_backups(
    service: Served, cloud_db: Session, uploaded: Uploaded, stores: list[CloudStore]
) -> None:
    a_store, a_backup, a_folder = uploaded.store, uploaded.backup_id, uploaded.folder
    b_token = workstation(cloud_db, clinics.create_clinic(cloud_db, "Clinic B").id)
    b_store = open_store(stores, service.url, b_token)
    headers = {"Authorization": f"Bearer {b_token}"}

    with httpx.Client(base_url=service.url, headers=headers) as http:
        answers = [
            http.get(f"/v1/backups/{a_backup}/manifest"),
            http.get(f"/v1/backups/{a_backup}/chunks/1"),
            http.delete(f"/v1/backups/{a_backup}"),
            http.get(f"/v1/backup-uploads/{a_backup}/chunks/1/sha256"),
            http.delete(f"/v1/backup-uploads/{a_backup}"),
        ]
    assert b_store.list_backups() == [] and b_store.list_partials() == []
    assert [a.status_code for a in answers] == [404] * 5
    with pytest.raises(backup.BackupNotFound):
        b_store.get_manifest(a_backup)
    b_store.delete(a_backup)  # quietly nothing: not B's
    assert a_store.list_backups() == [a_backup] and (a_folder / "manifest.json").is_file()
    with httpx.Client(base_url=service.url) as http:  # and no token, no backups
        assert http.get("/v1/backups").status_code == 401


@pytest.mark.parametrize(
    ("raw_id", "status"),
    [
        ("%2e%2e", 400),
        ("..%2F..%2Fetc", 404),
        ("a.partial", 400),
        ("x" * 81, 400),
        ("abc%0A", 400),
        ("%2Ftmp", 404),
    ],
)
def test_ids_that_could_leave_the_clinics_folder_are_refused(
    service: Served, uploaded: Uploaded, backup_dir: Path, raw_id: str, status: int
) -> None:
    store, folder = uploaded.store, uploaded.folder
    clinics_before = sorted(p.name for p in backup_dir.iterdir())
    headers = {"Authorization": f"Bearer {uploaded.token}"}
    with httpx.Client(base_url=service.url, headers=headers) as http:
        answers = [
            http.put(f"/v1/backup-uploads/{raw_id}", content=b"{}"),
            http.get(f"/v1/backups/{raw_id}/manifest"),
            http.delete(f"/v1/backups/{raw_id}"),
        ]
        bad_index = http.get(f"/v1/backups/{uploaded.backup_id}/chunks/0")
    assert [a.status_code for a in answers] == [status] * 3, [a.text for a in answers]
    assert bad_index.status_code == 400 and "Chunk numbers run from 1" in bad_index.json()["detail"]
    assert sorted(p.name for p in backup_dir.iterdir()) == clinics_before
    assert not [p for p in folder.parent.iterdir() if "." in p.name]  # no stray uploads in the clinic either
    with pytest.raises(backup.BackupNotFound, match="is not a backup id"):
        store.get_manifest("../" + uploaded.backup_id)


# --- size limits --------------------------------------------------------------------------------


def test_backup_uploads_have_their_own_body_limit(settings: Settings, db: Session, tmp_path: Path) -> None:
    app = create_app(
        settings.model_copy(update={"max_body_bytes": 4096, "backup_max_body_bytes": 64 * 1024, "backup_dir": tmp_path})
    )
    with TestClient(app) as client:
        desk = Cloud(client, db).enrol(Cloud(client, db).clinic())
        headers = {"Authorization": f"Bearer {desk.token}"}
        client.put("/v1/backup-uploads/20260314T020000Z-a1b2c3", content=b"{}", headers=headers)

        def put(size: int) -> httpx.Response:
            data = os.urandom(size)
            return client.put(
                "/v1/backup-uploads/20260314T020000Z-a1b2c3/chunks/1",
                content=data,
                headers=headers | {CHUNK_SHA256_HEADER: hashlib.sha256(data).hexdigest()},
            )

        fits, too_big = put(20_000), put(70_000)
        sync_push = client.post("/v1/sync/push", content=b"x" * 20_000, headers=desk.headers)
    app.state.engine.dispose()
    assert fits.status_code == 204
    assert too_big.status_code == 413 and sync_push.status_code == 413


def test_backup_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "elsewhere"))
    assert Settings().backup_dir == tmp_path / "elsewhere"
    monkeypatch.delenv("BACKUP_DIR")
    assert Settings().backup_dir == Path("chairside-backups")


# --- restoring on a new machine ----------------------------------------------------------------


def test_a_failed_restore_from_the_cloud_withdraws_its_enrolment(
    service: Served, cloud_db: Session, uploaded: Uploaded, tmp_path: Path
) -> None:
    backup_id, cloud_clinic = uploaded.backup_id, uploaded.folder.parent.name
    code = clinics.create_enrol_code(cloud_db, cloud_clinic)

    with pytest.raises(backup.BackupError, match="does not open it.*enrolment code is now used up"):
        restore_from_cloud(service.url, code, backup_id, tmp_path / "new", WRONG_PASSPHRASE)

    cloud_db.expire_all()
    device = cloud_db.scalars(select(Device).where(Device.clinic_id == cloud_clinic).order_by(Device.created_at)).all()
    assert device[-1].name.startswith("restore on ") and device[-1].revoked_at is not None
    assert not (tmp_path / "new").exists()


def test_backup_commands_use_the_cloud_and_restore_onto_a_new_machine_with_a_code(
    service: Served, cloud_db: Session, runtime: ClinicRuntime, clinic_dir: Path, tmp_path: Path
) -> None:
    admin = Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))
    patients.register(admin, PatientInput("Ottilie", LAST_NAME, "03/04/1977"))
    add_stored_files(clinic_dir)
    cloud_clinic = clinics.create_clinic(cloud_db, "Test Dental").id
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())  # as in the subprocesses: the token stays in the db
    try:
        cloud.enrol(runtime, service.url, clinics.create_enrol_code(cloud_db, cloud_clinic))
    finally:
        keyring.set_keyring(previous)
    runtime.close()
    usb = tmp_path / "usb"
    usb.mkdir()

    created = chairside("backup", "create", "--data-dir", str(clinic_dir))
    assert created.returncode == 0, created.stderr
    assert f"written to the cloud service at {service.url}: 3 files" in created.stdout
    both = chairside("backup", "create", "--data-dir", str(clinic_dir), "--folder", str(usb), "--cloud")
    assert both.returncode == 0, both.stderr
    assert f"written to {usb}" in both.stdout and f"written to the cloud service at {service.url}" in both.stdout
    listed = chairside("backup", "list", "--data-dir", str(clinic_dir))
    assert listed.returncode == 0, listed.stderr
    newest = sorted(line.split()[0] for line in listed.stdout.splitlines()[1:])[-1]

    target = tmp_path / "new-machine"
    no_code = chairside("backup", "restore", "--url", service.url, "--to", str(target))
    assert no_code.returncode == 2 and "needs a one-time enrolment code" in no_code.stderr
    code = clinics.create_enrol_code(cloud_db, cloud_clinic)
    restored = chairside(
        "backup", "restore", "--url", service.url, "--to", str(target),
        CHAIRSIDE_ENROL_CODE=code, CHAIRSIDE_WORKSTATION_NAME="spare-pc",
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert f"Restored backup {newest}" in restored.stdout and "stays connected" in restored.stdout
    assert file_hashes(target) == file_hashes(clinic_dir)
    assert table_hashes(target)["patient"] == table_hashes(clinic_dir)["patient"]
    again = chairside("backup", "restore", "--url", service.url, "--code", code, "--to", str(tmp_path / "other"))
    assert again.returncode == 2 and "already used" in again.stderr and "Traceback" not in again.stderr

    # the restored clinic kept its own connection: it lists (and would back up to) the cloud as it is
    listed_there = chairside("backup", "list", "--data-dir", str(target))
    assert listed_there.returncode == 0, listed_there.stderr
    assert newest in listed_there.stdout
    names = cloud_db.scalars(select(Device.name).where(Device.clinic_id == cloud_clinic)).all()
    assert "restore on spare-pc" in names
