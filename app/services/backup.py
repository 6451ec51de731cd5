"""Encrypted backups of a clinic: create, list, verify, restore and retention.

Backups go to a folder (a USB disk, a NAS share) or the clinic's cloud service; storage
sits behind the small `BackupStore` protocol.

Decisions
---------
Snapshot while the app runs.
    The database file and its write-ahead log are copied byte for byte inside one read
    transaction of the clinic's own connection, and the copy's log is then replayed into
    it (`_snapshot` says why that is one consistent state). The copy stays encrypted on
    disk with the clinic's key (no plaintext copy ever exists) and costs what a file copy
    costs: SQLite's backup API, used before, decrypted and encrypted every page again
    (1.7 s of a 2.4 s backup of the 166 MB demo clinic). Writers carry on meanwhile.
    The copy goes to
    `<data dir>/.backup-staging/<backup id>/clinic.db` (same disk as the clinic, which has
    room for it) and stays there until the backup is complete, so an interrupted backup
    resumes from the same snapshot. Every other file under the data dir goes in too
    (stored images and documents), except the live database, its -wal/-shm/-journal, the
    key file (carried in the manifest, below), `*.before-upgrade-*` safety copies (this
    machine's own rollback copies), temporary files (`*.tmp`, `*.part`) and our own
    `.backup-*` folders. Files are listed again after the snapshot so every file the
    snapshot refers to is in the backup (stored files are written before their rows and
    never deleted). Files are streamed while the snapshot is taken (the copy releases the
    GIL), then the snapshot itself.

Keys: derived from the clinic's key, opened with the recovery passphrase.
    Deriving the backup key from the recovery passphrase (argon2id) was considered: it
    would make every backup need the passphrase, so the nightly scheduled backup could
    only run if the passphrase were kept on the workstation, which DESIGN.md rules out.
    Instead each backup's keys come from HKDF-SHA256 over the clinic's
    raw database key (which the workstation already has, from its keyring), with a random
    per-backup salt and info = format|clinic id|backup id. The manifest carries the clinic's
    key record (`clinic.key`: the database key wrapped by the recovery passphrase with
    argon2id + AES-GCM, bound to the clinic id). So creating a backup needs no passphrase
    and no argon2 at all, while restoring on a brand-new machine needs only the folder and
    the passphrase: one argon2id derivation unwraps the database key, HKDF gives the backup
    keys. A wrong passphrase fails that unwrap and is reported as such. The passphrase
    and keys are never written anywhere; the store sees ciphertext, the wrapped key and
    the argon2/HKDF salts only (what the key file beside the database already exposes).
    HKDF yields three keys: AES-256-GCM for chunks and the file list, HMAC-SHA256 for the
    manifest, and a nonce key (below). Whoever holds the database key can read the
    backups, as they can the live database. After a change of recovery passphrase, older
    backups open with the passphrase of their day (their key record is the one of then).

Format: a folder `<backup id>/` (id = UTC time + 6 hex, e.g. `20260314T020000Z-a1b2c3`,
    sortable) holding `manifest.json` and `chunk-000001.bin`...
    The plaintext stream is the concatenation of the files (stored files, then the
    database snapshot), cut into chunks of 8 MiB. Each chunk file is nonce(12) ||
    AES-256-GCM(chunk, AAD = format|backup id|chunk|index): a chunk moved to another place
    or another backup fails authentication. The nonce is synthetic, HMAC(nonce key, index
    || plaintext)[:12]: unique per (key, index, content), so the same snapshot encrypts to
    the same bytes and a resumed run can tell a chunk already written from one to redo,
    while different content never reuses a nonce under one key.
    `manifest.json` = {"body": {...}, "mac": HMAC-SHA256(mac key, canonical JSON of body)}.
    The body holds format, backup id, clinic id and name, created_at, workstation id, app
    version, schema revision, the key record, the HKDF salt, chunk size, the chunk list
    (index, stored size, plaintext size, SHA-256 of the stored bytes), total and stored
    sizes, and the file list (path, offset, size, SHA-256 of the plaintext) sealed with
    AES-GCM so file names and hashes stay private. Listing reads the body without a key;
    anything used for restoring is authenticated first. Any edit of the body fails the MAC.

Writing and resuming.
    A backup is written to `<id>.partial/` (with a small `state.json`: id, clinic,
    workstation, salt, created_at; not secret) and renamed to `<id>/` once the manifest is
    written, so a listed backup is always complete. A create that finds its own
    workstation's partial and the matching staged snapshot resumes it: it re-encrypts
    each chunk (deterministically, above) and skips writing those whose SHA-256 already
    matches. Other partials of this workstation in that store are discarded. Another
    store's staged snapshot is kept for two days, so a nightly run to a folder and the
    cloud can resume either. One create at a time per clinic (an OS file lock in the
    staging folder).

Speed: the data is streamed in 8 MiB chunks (memory stays at a few chunks); the reading
    thread hashes files, two workers encrypt, hash and write chunks (AES-GCM, SHA-256 and
    file I/O release the GIL). Measured on the 2-core dev machine: stored files go at
    400-600 MB/s; the database snapshot is bound by SQLCipher decrypting and re-encrypting
    every page in the backup API (about 140 MB/s), so a database-only backup runs at about
    100 MB/s. Copying the raw encrypted file and WAL under a held read transaction would be
    faster but relies on WAL locking subtleties; DESIGN.md asks for the backup API.

Verify and restore: every chunk's size and GCM tag are checked and every file's SHA-256
    compared; verify restores into a scratch folder beside the clinic, then runs
    `PRAGMA integrity_check` and the audit-chain check on the restored database, and
    reports every damaged chunk or file by name. Restore extracts into a hidden sibling of
    the target and moves it into place only when everything checked out; it refuses a
    target that holds a clinic (or anything) unless told to overwrite, and then keeps the
    old folder aside as `<name>.before-restore-<time>` rather than deleting it.

Retention: `apply_retention` keeps, per clinic, the newest backup of each of the last N
    days / ISO weeks / months that have a backup (borg prune's and restic forget's rule, so
    a workstation that was switched off for weeks does not lose its older backups to the
    count) and always the newest backup; unreadable and other clinics' backups are left
    alone. The selection is pure (app.domain.backup_format.retention_keep).

Audit: creating, verifying (passed or failed), restoring (into the restored clinic) and
    pruning backups are audit events. Their details name backups, sizes and problems,
    never patients. `chairside backup list` shows each backup's latest verification from
    these events.

Stores: `FolderStore` here, `CloudStore` (the clinic's cloud service) in
    app.services.backup_cloud; the nightly schedule is app.services.backup_schedule.

Not done here: a GUI, and a restored clinic keeps the original workstation id (the sync
    slice should decide what a workstation restored onto new hardware becomes).
"""

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Protocol

import sqlcipher3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.config import DB_FILE, KEY_FILE, Paths
from app.db import keys, migrate
from app.db.engine import open_engine
from app.db.models import AuditEvent
from app.domain.backup_format import (
    CHUNK_SIZE,
    DB_NAME,
    FORMAT,
    NONCE_SIZE,
    ChunkEntry,
    FileEntry,
    Manifest,
    ManifestUnreadable,
    Retention,
    canonical,
    check_layout,
    chunk_aad,
    chunk_name,
    decode_files,
    decode_manifest,
    encode_files,
    encode_manifest,
    files_aad,
    is_backup_id,
    new_backup_id,
    retention_keep,
)
from app.domain.errors import UserError
from app.services.context import Actor, Ctx
from app.services.runtime import ClinicInfo, ClinicRuntime

PassphraseProvider = Callable[[], str | None]

STAGING = ".backup-staging"  # in the data dir: the snapshot of the backup being made
STAGING_KEPT_SECONDS = 2 * 24 * 3600
VERIFY_SCRATCH_PREFIX = ".backup-verify-"
STATE_FILE = "state.json"
MANIFEST_FILE = "manifest.json"
WORKERS = 2
MAX_PROBLEMS_SHOWN = 8


def _no_passphrase() -> str | None:
    return None


# --- errors ------------------------------------------------------------------------------


class BackupError(UserError):
    pass


class BackupNotFound(BackupError):
    pass


class BackupFolderMissing(BackupError):
    pass


class BackupPassphraseWrong(BackupError):
    pass


class BackupBusy(BackupError):
    pass


class RestoreRefused(BackupError):
    pass


class BackupDamaged(BackupError):
    """A backup that fails a check; `problems` names each damaged chunk, file or check."""

    def __init__(self, backup_id: str, problems: list[str]) -> None:
        self.backup_id = backup_id
        self.problems = problems
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        tail = f"; and {more} more problems" if more > 0 else ""
        super().__init__(f"Backup {backup_id}: {shown}{tail}. It cannot be restored as it is; use another backup.")


# --- storage -----------------------------------------------------------------------------


class ChunkMissing(Exception):
    """The store has no such chunk (a store-level fact; the service words the message)."""


class BackupStore(Protocol):
    """Where backups live: a folder now, the cloud service later.

    Complete backups are immutable; a backup being written is a "partial" until
    `put_manifest` completes it atomically.
    """

    def describe(self) -> str: ...

    def list_backups(self) -> list[str]: ...

    def list_partials(self) -> list[str]: ...

    def get_manifest(self, backup_id: str) -> bytes: ...

    def get_chunk(self, backup_id: str, index: int) -> bytes: ...

    def begin(self, backup_id: str, state: bytes) -> None: ...

    def get_state(self, backup_id: str) -> bytes | None: ...

    def chunk_digest(self, backup_id: str, index: int) -> str | None: ...

    def put_chunk(self, backup_id: str, index: int, data: bytes) -> None: ...

    def put_manifest(self, backup_id: str, data: bytes, chunk_count: int) -> None: ...

    def delete(self, backup_id: str) -> None: ...

    def discard_partial(self, backup_id: str) -> None: ...


def check_backup_id(backup_id: str) -> str:
    """The id, if it is one (a store never builds a path or URL from anything else)."""
    if not is_backup_id(backup_id):
        raise BackupNotFound(f"'{backup_id}' is not a backup id (they look like 20260314T020000Z-a1b2c3).")
    return backup_id


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; NTFS journals the rename
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class FolderStore:
    """Backups as folders under `root`: `<id>/` complete, `<id>.partial/` being written."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()

    def describe(self) -> str:
        return f"folder {self.root}"

    def _existing_root(self, *, create: bool = False) -> Path:
        if not self.root.is_dir():
            # made only when its parent exists: an unplugged disk must not become a folder
            # on the system drive by a typo's length
            if create and self.root.parent.is_dir() and not self.root.exists():
                self.root.mkdir()
            else:
                raise BackupFolderMissing(
                    f"The backup folder {self.root} does not exist or is not reachable "
                    "(is the disk plugged in, or the network share mounted?)."
                )
        return self.root

    def _final(self, backup_id: str) -> Path:
        return self._existing_root() / check_backup_id(backup_id)

    def _partial(self, backup_id: str, *, create: bool = False) -> Path:
        return self._existing_root(create=create) / f"{check_backup_id(backup_id)}.partial"

    def list_backups(self) -> list[str]:
        root = self._existing_root()
        return sorted(p.name for p in root.iterdir() if is_backup_id(p.name) and (p / MANIFEST_FILE).is_file())

    def list_partials(self) -> list[str]:
        if not self.root.exists() and self.root.parent.is_dir():
            return []  # a new backup folder, made by begin()
        root = self._existing_root()
        names = (p.name.removesuffix(".partial") for p in root.iterdir() if p.name.endswith(".partial"))
        return sorted(n for n in names if is_backup_id(n))

    def get_manifest(self, backup_id: str) -> bytes:
        try:
            return (self._final(backup_id) / MANIFEST_FILE).read_bytes()
        except FileNotFoundError:
            raise BackupNotFound(f"There is no backup {backup_id} in {self.describe()}.") from None

    def get_chunk(self, backup_id: str, index: int) -> bytes:
        try:
            return (self._final(backup_id) / chunk_name(index)).read_bytes()
        except FileNotFoundError:
            raise ChunkMissing(index) from None

    def begin(self, backup_id: str, state: bytes) -> None:
        folder = self._partial(backup_id, create=True)
        folder.mkdir(exist_ok=True)
        _write_durably(folder / STATE_FILE, state)

    def get_state(self, backup_id: str) -> bytes | None:
        try:
            return (self._partial(backup_id) / STATE_FILE).read_bytes()
        except FileNotFoundError:
            return None

    def chunk_digest(self, backup_id: str, index: int) -> str | None:
        path = self._partial(backup_id) / chunk_name(index)
        try:
            with open(path, "rb") as f:
                return hashlib.file_digest(f, "sha256").hexdigest()
        except FileNotFoundError:
            return None

    def put_chunk(self, backup_id: str, index: int, data: bytes) -> None:
        _write_durably(self._partial(backup_id) / chunk_name(index), data)

    def put_manifest(self, backup_id: str, data: bytes, chunk_count: int) -> None:
        folder = self._partial(backup_id)
        for p in folder.iterdir():  # leftovers of a longer interrupted run, or of a crash
            if p.name.endswith(".tmp") or (p.name.startswith("chunk-") and p.name > chunk_name(chunk_count)):
                p.unlink()
        _write_durably(folder / MANIFEST_FILE, data)
        (folder / STATE_FILE).unlink(missing_ok=True)
        _fsync_dir(folder)
        os.replace(folder, self._final(backup_id))
        _fsync_dir(self.root)

    def delete(self, backup_id: str) -> None:
        final = self._final(backup_id)
        if not final.exists():
            return
        # renamed first: a deletion cut short never leaves a listed, incomplete backup
        doomed = final.with_name(f"{backup_id}.deleting")
        os.replace(final, doomed)
        shutil.rmtree(doomed)

    def discard_partial(self, backup_id: str) -> None:
        shutil.rmtree(self._partial(backup_id), ignore_errors=True)


# --- keys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Keys:
    aead: AESGCM
    mac: bytes
    nonce: bytes


def _derive(db_key: bytes, salt: bytes, clinic_id: str, backup_id: str) -> _Keys:
    okm = HKDF(
        algorithm=hashes.SHA256(), length=96, salt=salt, info=f"{FORMAT}|{clinic_id}|{backup_id}".encode()
    ).derive(db_key)
    return _Keys(AESGCM(okm[:32]), okm[32:64], okm[64:])


def _manifest_mac(k: _Keys, covered: bytes) -> bytes:
    return hmac.digest(k.mac, covered, "sha256")


# --- reports -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateReport:
    backup_id: str
    files: int
    total_size: int
    stored_size: int
    chunks: int
    chunks_reused: int
    resumed: bool
    seconds: float

    @property
    def mb_per_s(self) -> float:
        return self.total_size / 1e6 / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class BackupInfo:
    backup_id: str
    readable: bool
    created_at: datetime | None = None
    clinic_id: str = ""
    clinic_name: str = ""
    total_size: int = 0
    stored_size: int = 0


@dataclass(frozen=True)
class VerifyReport:
    backup_id: str
    created_at: datetime
    files: int
    total_size: int
    seconds: float


@dataclass(frozen=True)
class RestoreReport:
    backup_id: str
    created_at: datetime
    to_dir: Path
    files: int
    total_size: int
    replaced: Path | None
    seconds: float


# --- creating ----------------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One backup at a time per clinic; the OS drops the lock if the process dies."""
    f = open(lock_path, "a+b")
    try:
        try:
            if os.name == "nt":
                import msvcrt

                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            else:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BackupBusy("Another backup of this clinic is running; try again when it has finished.") from None
        yield
    finally:
        f.close()


def _excluded(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    if "/" not in rel and (
        name in (DB_FILE, KEY_FILE) or name.startswith(f"{DB_FILE}-") or name.startswith(f"{DB_FILE}.before-upgrade-")
    ):
        return True
    return name.endswith((".tmp", ".part")) or name.startswith(".backup-")


def stored_files(data_dir: Path) -> list[str]:
    """The data dir's files that a backup carries besides the database (relative, sorted)."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(data_dir):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".backup-") and not (here / d).is_symlink())
        for name in filenames:
            path = here / name
            rel = path.relative_to(data_dir).as_posix()
            if not _excluded(rel) and not path.is_symlink() and path.is_file():
                found.append(rel)
    return sorted(found)


@dataclass(frozen=True)
class _State:
    backup_id: str
    clinic_id: str
    workstation_id: str
    created_at: str
    salt: bytes

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "backup_id": self.backup_id,
                "clinic_id": self.clinic_id,
                "workstation_id": self.workstation_id,
                "created_at": self.created_at,
                "salt": self.salt.hex(),
            }
        ).encode()

    @staticmethod
    def decode(data: bytes | None) -> "_State | None":
        if data is None:
            return None
        try:
            d = json.loads(data)
            if d["format"] != FORMAT:
                return None
            salt = bytes.fromhex(d["salt"])
            return _State(d["backup_id"], d["clinic_id"], d["workstation_id"], d["created_at"], salt)
        except (ValueError, KeyError, TypeError):
            return None


def _sidecar(db: Path, suffix: str) -> Path:
    return db.with_name(db.name + suffix)


def _snapshot(runtime: ClinicRuntime, db_key: bytes, target: Path) -> None:
    """A consistent, still encrypted copy of the live database, at the speed of a file copy.

    Inside one read transaction on the live database its file, then its write-ahead log,
    are copied byte for byte: the pages stay encrypted as they are (SQLite's backup API
    would decrypt and encrypt every page again). While that transaction is open, SQLite's
    checkpoints write into the database file only frames the log still holds, and the log
    is not started over, so the copied log replayed over the copied file gives a committed
    state of the clinic. Opening the copy replays it; the copy is then folded into one file.
    """
    live = Paths(runtime.data_dir).db
    part = target.with_name(target.name + ".part")
    for stale in (part, _sidecar(part, "-wal"), _sidecar(part, "-shm")):
        stale.unlink(missing_ok=True)
    source = runtime.engine.raw_connection()
    try:
        reader = source.driver_connection
        reader.execute("BEGIN")  # type: ignore[union-attr]
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()  # type: ignore[union-attr]
        shutil.copyfile(live, part)
        if _sidecar(live, "-wal").exists():
            shutil.copyfile(_sidecar(live, "-wal"), _sidecar(part, "-wal"))
    except sqlcipher3.Error as e:
        raise BackupError(f"The snapshot of the database in {target.parent} could not be made ({e}).") from None
    finally:
        source.rollback()
        source.close()
    copy = sqlcipher3.connect(str(part), check_same_thread=False)
    try:
        copy.execute(f'PRAGMA key = "{keys.sqlcipher_key_literal(db_key)}"')
        copy.execute("SELECT count(*) FROM sqlite_master").fetchone()  # replays the copied log
        copy.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    except sqlcipher3.Error as e:
        raise BackupError(f"The snapshot of the database in {target.parent} could not be made ({e}).") from None
    finally:
        copy.close()
    with open(part, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(part, target)


class _ChunkWriter:
    """Cuts a stream of files into chunks; workers seal and store them, in order."""

    def __init__(
        self, store: BackupStore, backup_id: str, k: _Keys, chunk_size: int, resume: bool, stop: threading.Event
    ) -> None:
        self.store, self.backup_id, self.keys, self.resume, self.stop = store, backup_id, k, resume, stop
        self._buf = bytearray(chunk_size)
        self._view = memoryview(self._buf)
        self._fill = 0
        self._next = 1
        self._offset = 0
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="backup")
        self._pending: deque[Future[tuple[ChunkEntry, bool]]] = deque()
        self.files: list[FileEntry] = []
        self.chunks: list[ChunkEntry] = []
        self.reused = 0

    def add_file(self, name: str, path: Path) -> None:
        digest = hashlib.sha256()
        size = 0
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return  # removed since it was listed (never a stored file: those are kept)
        view = self._view
        with f:
            while n := f.readinto(view[self._fill :]):
                digest.update(view[self._fill : self._fill + n])
                self._fill += n
                size += n
                if self._fill == len(self._buf):
                    self._emit()
        self.files.append(FileEntry(name, self._offset, size, digest.hexdigest()))
        self._offset += size

    def _emit(self) -> None:
        data = bytes(self._view[: self._fill])
        self._fill = 0
        self._pending.append(self._pool.submit(self._seal, self._next, data))
        self._next += 1
        while len(self._pending) > 2 * WORKERS:
            self._collect()

    def _collect(self) -> None:
        entry, reused = self._pending.popleft().result()
        self.chunks.append(entry)
        self.reused += reused

    def _seal(self, index: int, plain: bytes) -> tuple[ChunkEntry, bool]:
        if self.stop.is_set():
            raise BackupError(
                f"The backup to {self.store.describe()} was stopped before it finished; "
                "it resumes where it stopped when run again."
            )
        mac = hmac.new(self.keys.nonce, index.to_bytes(8, "big"), "sha256")
        mac.update(plain)
        nonce = mac.digest()[:NONCE_SIZE]
        stored = nonce + self.keys.aead.encrypt(nonce, plain, chunk_aad(self.backup_id, index))
        digest = hashlib.sha256(stored).hexdigest()
        reused = self.resume and self.store.chunk_digest(self.backup_id, index) == digest
        if not reused:
            self.store.put_chunk(self.backup_id, index, stored)
        return ChunkEntry(index, len(stored), len(plain), digest), reused

    def finish(self) -> None:
        if self._fill:
            self._emit()
        while self._pending:
            self._collect()
        self._pool.shutdown()

    def abandon(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _app_version() -> str:
    try:
        return metadata.version("chairside")
    except metadata.PackageNotFoundError:
        return "unknown"


def _snapshot_revision(snapshot: Path, db_key: bytes) -> str | None:
    """The schema revision of a staged snapshot; None if it is not there or does not open
    with the clinic's current key."""
    if not snapshot.is_file():
        return None
    conn = sqlcipher3.connect(str(snapshot))
    try:
        conn.execute(f'PRAGMA key = "{keys.sqlcipher_key_literal(db_key)}"')
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(row[0]) if row else None
    except sqlcipher3.Error:
        return None
    finally:
        conn.close()


def _stale(staged: Path) -> bool:
    # another destination's interrupted backup (folder and cloud both) resumes from its
    # snapshot on the next night, so a snapshot is kept that long before it counts as litter
    return time.time() - staged.stat().st_mtime > STAGING_KEPT_SECONDS


def _find_resumable(store: BackupStore, runtime: ClinicRuntime, staging: Path, db_key: bytes) -> _State | None:
    """This workstation's newest unfinished backup whose snapshot is still staged; the
    workstation's other unfinished backups in this store are discarded."""
    found: _State | None = None
    for partial in reversed(store.list_partials()):
        state = _State.decode(store.get_state(partial))
        if state is None or state.backup_id != partial:
            continue  # not ours to judge (another version, or not a backup we understand)
        if (state.clinic_id, state.workstation_id) != (runtime.info.clinic_id, runtime.workstation_id):
            continue  # another workstation's backup in progress
        if found is None and _snapshot_revision(staging / partial / DB_NAME, db_key):
            found = state
        else:
            store.discard_partial(partial)
    return found


def create(
    runtime: ClinicRuntime,
    store: BackupStore,
    *,
    passphrase: PassphraseProvider = _no_passphrase,
    actor: Actor | None = None,
    chunk_size: int = CHUNK_SIZE,
    stop: threading.Event | None = None,
) -> CreateReport:
    """Back the clinic up into `store`, resuming this workstation's interrupted backup if any.

    The database key is the open clinic's (else the keyring's, else the recovery
    passphrase's). Setting `stop` (the program is closing) ends it at the next chunk,
    resumable.
    """
    from app import bootstrap  # the composition root; imported late (it imports services)

    started = time.perf_counter()
    data_dir = runtime.data_dir
    if isinstance(store, FolderStore) and store.root.resolve().is_relative_to(data_dir.resolve()):
        raise BackupError(
            f"Keep backups outside the clinic's folder {data_dir} (best on another disk): {store.root} is inside it."
        )
    staging = data_dir / STAGING
    staging.mkdir(exist_ok=True)
    with _exclusive(staging / "lock"):
        db_key = runtime.db_key or bootstrap.unlock_key(data_dir, passphrase)
        key_record = keys.key_file_record(keys.read_key_file(Paths(data_dir).key_file))
        try:
            state = _find_resumable(store, runtime, staging, db_key)
            resumed = state is not None
            if state is None:
                now = datetime.now(UTC)
                state = _State(
                    new_backup_id(now), runtime.info.clinic_id, runtime.workstation_id, now.isoformat(), os.urandom(16)
                )
                store.begin(state.backup_id, state.encode())
            for old in staging.iterdir():
                if old.is_dir() and old.name != state.backup_id and _stale(old):
                    shutil.rmtree(old, ignore_errors=True)
            manifest, reused, files = _write(
                runtime, store, state, db_key, key_record, staging, chunk_size, resumed, stop or threading.Event()
            )
        except OSError as e:
            raise BackupError(
                f"The backup to {store.describe()} could not be written ({e.strerror or e}). "
                "Run it again to resume where it stopped."
            ) from None
        shutil.rmtree(staging / state.backup_id, ignore_errors=True)
    report = CreateReport(
        backup_id=manifest.backup_id,
        files=files,
        total_size=manifest.total_size,
        stored_size=manifest.stored_size,
        chunks=len(manifest.chunks),
        chunks_reused=reused,
        resumed=resumed,
        seconds=time.perf_counter() - started,
    )
    _audit(
        runtime,
        actor,
        "backup.created",
        manifest.backup_id,
        {
            "store": store.describe(),
            "size": manifest.total_size,
            "chunks": len(manifest.chunks),
            "resumed": resumed,
            "seconds": round(report.seconds, 2),
        },
    )
    return report


def _write(
    runtime: ClinicRuntime,
    store: BackupStore,
    state: _State,
    db_key: bytes,
    key_record: dict[str, Any],
    staging: Path,
    chunk_size: int,
    resumed: bool,
    stop: threading.Event,
) -> tuple[Manifest, int, int]:
    data_dir = runtime.data_dir
    folder = staging / state.backup_id
    folder.mkdir(exist_ok=True)
    snapshot = folder / DB_NAME
    k = _derive(db_key, state.salt, state.clinic_id, state.backup_id)
    writer = _ChunkWriter(store, state.backup_id, k, chunk_size, resumed, stop)
    snap_error: list[BaseException] = []
    snap_thread: threading.Thread | None = None
    if not snapshot.is_file():

        def take() -> None:
            try:
                _snapshot(runtime, db_key, snapshot)
            except BaseException as e:  # re-raised on the calling thread
                snap_error.append(e)

        snap_thread = threading.Thread(target=take, name="backup-snapshot")
        snap_thread.start()
    try:
        listed = stored_files(data_dir)
        for rel in listed:
            writer.add_file(rel, data_dir / rel)
        if snap_thread is not None:
            snap_thread.join()
            snap_thread = None
            if snap_error:
                raise snap_error[0]
        for rel in sorted(set(stored_files(data_dir)) - set(listed)):  # stored while the snapshot ran
            writer.add_file(rel, data_dir / rel)
        writer.add_file(DB_NAME, snapshot)
        writer.finish()
    except BaseException:
        writer.abandon()
        if snap_thread is not None:
            snap_thread.join()
        raise
    revision = _snapshot_revision(snapshot, db_key) or ""  # the snapshot's: it may predate an upgrade
    files_nonce = os.urandom(NONCE_SIZE)
    manifest = Manifest(
        backup_id=state.backup_id,
        clinic_id=state.clinic_id,
        clinic_name=runtime.info.name,
        created_at=state.created_at,
        workstation_id=state.workstation_id,
        app_version=_app_version(),
        schema_revision=revision,
        key_file=key_record,
        hkdf_salt=state.salt,
        chunk_size=chunk_size,
        chunks=tuple(writer.chunks),
        total_size=sum(c.plain_size for c in writer.chunks),
        stored_size=sum(c.size for c in writer.chunks),
        files_nonce=files_nonce,
        files_sealed=k.aead.encrypt(files_nonce, encode_files(writer.files), files_aad(state.backup_id)),
    )
    check_layout(manifest, writer.files)
    mac = _manifest_mac(k, canonical(manifest.body()))
    store.put_manifest(state.backup_id, encode_manifest(manifest, mac), len(manifest.chunks))
    return manifest, writer.reused, len(writer.files)


# --- reading -----------------------------------------------------------------------------


def list_backups(store: BackupStore, clinic_id: str | None = None) -> list[BackupInfo]:
    """The complete backups in the store, newest first (one clinic's, if given).

    Read from the manifests without a key: sizes and dates are as recorded, checked only
    by verify. A manifest that cannot be read is listed as such (for every clinic).
    """
    found: list[BackupInfo] = []
    for backup_id in reversed(store.list_backups()):
        try:
            m, _mac, _covered = decode_manifest(store.get_manifest(backup_id))
        except (ManifestUnreadable, BackupNotFound):
            found.append(BackupInfo(backup_id, readable=False))
            continue
        if clinic_id is None or m.clinic_id == clinic_id:
            found.append(
                BackupInfo(backup_id, True, m.created, m.clinic_id, m.clinic_name, m.total_size, m.stored_size)
            )
    return found


def _choose(store: BackupStore, backup_id: str | None, clinic_id: str | None) -> str:
    if backup_id:
        return backup_id
    backups = list_backups(store, clinic_id)
    if not backups:
        whose = "of this clinic " if clinic_id else ""
        raise BackupNotFound(f"There are no backups {whose}in {store.describe()}.")
    clinics = {(b.clinic_id, b.clinic_name) for b in backups if b.readable}
    if clinic_id is None and len(clinics) > 1:
        names = ", ".join(sorted(f"'{name}'" for _, name in clinics))
        raise BackupError(
            f"{store.describe().capitalize()} holds backups of {len(clinics)} clinics ({names}); "
            "name the backup to use (see 'chairside backup list')."
        )
    return backups[0].backup_id


@dataclass(frozen=True)
class _Opened:
    manifest: Manifest
    crypto: _Keys
    files: list[FileEntry]
    key_file: keys.KeyFile
    db_key: bytes


def _open(
    store: BackupStore, backup_id: str, *, passphrase: str | None, db_key: bytes | None, clinic_id: str | None = None
) -> _Opened:
    """The authenticated manifest and file list of a backup, and its keys."""
    try:
        m, mac, covered = decode_manifest(store.get_manifest(backup_id))
        if m.backup_id != backup_id:
            raise ManifestUnreadable("its manifest belongs to another backup")
    except ManifestUnreadable as e:
        raise BackupDamaged(backup_id, [f"its manifest is damaged ({e})"]) from None
    if clinic_id and m.clinic_id != clinic_id:
        raise BackupError(f"Backup {backup_id} is not this clinic's (it is a backup of '{m.clinic_name}').")
    known = migrate.known_revisions()
    if m.schema_revision not in known:
        raise BackupError(
            f"Backup {backup_id} was made by a newer version of Chairside ({m.app_version}, schema "
            f"{m.schema_revision}); install that version or newer to restore it."
        )
    try:
        kf = keys.key_file_from_record(m.key_file, "its key record")
    except keys.KeyFileDamaged as e:
        raise BackupDamaged(backup_id, [str(e).rstrip(".")]) from None
    if kf.clinic_id != m.clinic_id:
        raise BackupDamaged(backup_id, ["its key record belongs to another clinic"])
    if db_key is None:
        if not passphrase:
            raise BackupPassphraseWrong(
                f"Backup {backup_id}: the recovery passphrase is needed to open it "
                "(--passphrase-file or CHAIRSIDE_RECOVERY_PASSPHRASE)."
            )
        try:
            db_key = keys.unwrap_key(kf, passphrase)
        except keys.WrongPassphrase:
            raise BackupPassphraseWrong(
                f"Backup {backup_id}: that recovery passphrase does not open it. Use the recovery passphrase "
                f"clinic '{m.clinic_name}' had on {m.created:%d %b %Y} (or the backup's key record is damaged)."
            ) from None
    k = _derive(db_key, m.hkdf_salt, m.clinic_id, backup_id)
    if not hmac.compare_digest(_manifest_mac(k, covered), mac):
        raise BackupDamaged(backup_id, ["its manifest has been altered or damaged (authentication failed)"])
    try:
        files = decode_files(k.aead.decrypt(m.files_nonce, m.files_sealed, files_aad(backup_id)))
        check_layout(m, files)
    except (InvalidTag, ManifestUnreadable) as e:
        raise BackupDamaged(backup_id, [f"its file list is damaged ({e or 'authentication failed'})"]) from None
    return _Opened(m, k, files, kf, db_key)


class _ChunkProblem(Exception):
    pass


def _load_chunk(store: BackupStore, backup_id: str, k: _Keys, c: ChunkEntry) -> bytes:
    try:
        stored = store.get_chunk(backup_id, c.index)
    except ChunkMissing:
        raise _ChunkProblem(f"chunk {c.index} is missing") from None
    if len(stored) < c.size:
        raise _ChunkProblem(f"chunk {c.index} is truncated ({len(stored)} of {c.size} bytes)")
    if len(stored) > c.size:
        raise _ChunkProblem(f"chunk {c.index} is damaged ({len(stored)} bytes where {c.size} were written)")
    try:
        plain = k.aead.decrypt(stored[:NONCE_SIZE], stored[NONCE_SIZE:], chunk_aad(backup_id, c.index))
    except InvalidTag:
        raise _ChunkProblem(f"chunk {c.index} is damaged (authentication failed)") from None
    if len(plain) != c.plain_size:
        raise _ChunkProblem(f"chunk {c.index} is damaged (wrong length)")
    return plain


class _ChunkStream:
    """The backup's plaintext stream, chunk by chunk, fetched and decrypted ahead by workers."""

    def __init__(self, store: BackupStore, opened: _Opened, collect: bool) -> None:
        self.problems: list[str] = []
        self._collect = collect
        self._buf = memoryview(b"")
        self._ok = True
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="restore")
        backup_id, k = opened.manifest.backup_id, opened.crypto
        self._todo = deque(opened.manifest.chunks)
        self._ahead: deque[tuple[ChunkEntry, Future[bytes]]] = deque()
        self._submit = lambda c: self._pool.submit(_load_chunk, store, backup_id, k, c)
        self.backup_id = backup_id

    def _fill(self) -> None:
        while self._todo and len(self._ahead) < 2 * WORKERS:
            c = self._todo.popleft()
            self._ahead.append((c, self._submit(c)))
        entry, future = self._ahead.popleft()
        try:
            self._buf, self._ok = memoryview(future.result()), True
        except _ChunkProblem as e:
            if not self._collect:
                raise BackupDamaged(self.backup_id, [str(e)]) from None
            self.problems.append(str(e))
            self._buf, self._ok = memoryview(bytes(entry.plain_size)), False

    def read(self, n: int) -> tuple[memoryview, bool]:
        """Up to n bytes of the stream, and whether they came from an intact chunk."""
        if not self._buf:
            self._fill()
        piece, self._buf = self._buf[:n], self._buf[n:]
        return piece, self._ok

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _extract(store: BackupStore, opened: _Opened, dest: Path, *, collect: bool) -> tuple[list[str], set[str]]:
    """Write the backup's files under dest; (problems, names of files damaged).

    With collect, every damaged chunk and file is reported; otherwise the first stops it.
    """
    stream = _ChunkStream(store, opened, collect)
    damaged: set[str] = set()
    problems: list[str] = []
    try:
        for f in sorted(opened.files, key=lambda f: f.offset):
            target = dest.joinpath(*f.path.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            intact = True
            with open(target, "wb") as out:
                left = f.size
                while left:
                    piece, ok = stream.read(left)
                    intact &= ok
                    out.write(piece)
                    digest.update(piece)
                    left -= len(piece)
                if not collect:  # restoring: on disk before the folder is moved into place
                    _flush(out)
            if not intact:
                damaged.add(f.path)
            elif digest.hexdigest() != f.sha256:
                damaged.add(f.path)
                problems.append(f"file {f.path} does not match its recorded SHA-256")
                if not collect:
                    raise BackupDamaged(opened.manifest.backup_id, problems)
    finally:
        stream.close()
    problems = stream.problems + problems
    if damaged and stream.problems:
        problems.append("damaged files: " + ", ".join(sorted(damaged)))
    return problems, damaged


def _flush(out: IO[bytes]) -> None:
    out.flush()
    os.fsync(out.fileno())


def _check_database(folder: Path, opened: _Opened) -> list[str]:
    """SQLite's integrity check and the audit-chain check on a restored database."""
    from app.services import audit

    try:
        engine = open_engine(folder / DB_NAME, opened.db_key)
    except UserError as e:
        return [f"the database cannot be opened ({e})"]
    problems: list[str] = []
    try:
        with engine.connect() as conn:
            result = [str(r) for r in conn.exec_driver_sql("PRAGMA integrity_check").scalars()]
        if result != ["ok"]:
            problems.append("the database fails SQLite's integrity check: " + "; ".join(result[:5]))
        m = opened.manifest
        info = ClinicInfo(m.clinic_id, m.clinic_name, "", "", "")
        restored = ClinicRuntime(folder, engine, m.workstation_id, "", info)
        broken = audit.verify(restored)
        if broken is not None:
            problems.append(f"its audit trail is broken at event {broken.seq} ({broken.reason})")
    except SQLAlchemyError as e:
        problems.append(f"the database cannot be read ({type(getattr(e, 'orig', None) or e).__name__})")
    finally:
        engine.dispose()
    return problems


def verify(
    store: BackupStore,
    backup_id: str | None = None,
    passphrase: str | None = None,
    *,
    db_key: bytes | None = None,
    runtime: ClinicRuntime | None = None,
    actor: Actor | None = None,
    scratch_dir: Path | None = None,
) -> VerifyReport:
    """Restore a backup (default: the newest) into a scratch folder and check all of it.

    Opened with the recovery passphrase (which proves a new machine could restore it), or
    with the clinic's database key. With `runtime`, the scratch folder sits in that
    clinic's data dir and the result is audited there. Raises BackupDamaged naming every
    damaged chunk and file, or BackupPassphraseWrong.
    """
    started = time.perf_counter()
    clinic_id = runtime.info.clinic_id if runtime else None
    chosen = _choose(store, backup_id, clinic_id)
    try:
        opened = _open(store, chosen, passphrase=passphrase, db_key=db_key, clinic_id=clinic_id)
        parent = scratch_dir or (runtime.data_dir if runtime else None)
        scratch = Path(tempfile.mkdtemp(prefix=VERIFY_SCRATCH_PREFIX, dir=parent))
        try:
            problems, damaged = _extract(store, opened, scratch, collect=True)
            if DB_NAME not in damaged:
                problems += _check_database(scratch, opened)
        except OSError as e:
            raise BackupError(f"Backup {chosen} could not be checked: {e.strerror or e} in {scratch}.") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if problems:
            raise BackupDamaged(chosen, problems)
    except BackupError as e:
        if runtime is not None:
            _audit(runtime, actor, "backup.verify_failed", chosen, {"store": store.describe(), "problem": str(e)})
        raise
    m = opened.manifest
    if runtime is not None:
        _audit(runtime, actor, "backup.verified", chosen, {"store": store.describe(), "size": m.total_size})
    return VerifyReport(chosen, m.created, len(opened.files), m.total_size, time.perf_counter() - started)


def _target_state(to_dir: Path) -> str:
    if not to_dir.exists():
        return "absent"
    if not to_dir.is_dir():
        return "file"
    entries = list(to_dir.iterdir())
    if not entries:
        return "empty"
    paths = Paths(to_dir)
    return "clinic" if paths.db.exists() or paths.key_file.exists() else "other"


def check_restore_target(to_dir: Path, *, overwrite: bool = False) -> str:
    """What `to_dir` holds ("absent", "empty", "clinic", "other"); RestoreRefused if a restore
    may not go there (checked before a restore, and again before it moves into place)."""
    state = _target_state(to_dir)
    if state == "file" or (state in ("clinic", "other") and not overwrite):
        _refuse(to_dir, state)
    return state


def _refuse(to_dir: Path, state: str) -> None:
    if state == "file":
        raise RestoreRefused(f"{to_dir} is a file, not a folder; restore into a folder.")
    if state == "clinic":
        raise RestoreRefused(
            f"{to_dir} already holds a clinic; the restore would replace it. Restore into an empty "
            "folder, or say to overwrite (--overwrite): the clinic there is then kept aside, not deleted."
        )
    if state == "other":
        raise RestoreRefused(f"{to_dir} is not empty; restore into an empty or new folder, or say to overwrite.")


def restore(
    store: BackupStore,
    backup_id: str | None,
    to_dir: Path,
    passphrase: str,
    *,
    overwrite: bool = False,
) -> RestoreReport:
    """Restore a backup (default: the newest) as a clinic in `to_dir`, with the passphrase only.

    Nothing is written to `to_dir` unless every chunk and file checks out. With overwrite,
    an existing folder is kept aside as `<name>.before-restore-<time>`.
    """
    from app import bootstrap

    started = time.perf_counter()
    to_dir = Path(os.path.abspath(to_dir.expanduser()))
    check_restore_target(to_dir, overwrite=overwrite)
    chosen = _choose(store, backup_id, None)
    opened = _open(store, chosen, passphrase=passphrase, db_key=None)
    replaced: Path | None = None
    try:
        to_dir.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{to_dir.name}.restoring-", dir=to_dir.parent))
    except OSError as e:
        raise BackupError(f"Cannot restore into {to_dir}: {e.strerror or e}.") from None
    try:
        _extract(store, opened, work, collect=False)
        keys.write_key_file(work / KEY_FILE, opened.key_file)
        state = check_restore_target(to_dir, overwrite=overwrite)  # again: it may have changed meanwhile
        if state == "empty":
            to_dir.rmdir()
        elif state in ("clinic", "other"):
            replaced = to_dir.with_name(f"{to_dir.name}.before-restore-{datetime.now():%Y%m%d-%H%M%S}")
            os.replace(to_dir, replaced)
        os.replace(work, to_dir)
    except OSError as e:
        shutil.rmtree(work, ignore_errors=True)
        raise BackupError(f"Cannot restore into {to_dir}: {e.strerror or e}. Nothing there was changed.") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    m = opened.manifest
    runtime = bootstrap.open_clinic(to_dir, lambda: passphrase)
    try:
        _audit(
            runtime,
            None,
            "backup.restored",
            chosen,
            {"store": store.describe(), "backup_created_at": m.created_at, "size": m.total_size},
        )
    finally:
        runtime.close()
    return RestoreReport(
        chosen, m.created, to_dir, len(opened.files), m.total_size, replaced, time.perf_counter() - started
    )


# --- status, retention, throughput --------------------------------------------------------


def verification_status(runtime: ClinicRuntime) -> dict[str, tuple[bool, datetime]]:
    """backup id -> (passed?, when) of its latest verification recorded in this clinic."""
    status: dict[str, tuple[bool, datetime]] = {}
    with runtime.sessions() as s:
        rows = s.execute(
            select(AuditEvent.entity_id, AuditEvent.action, AuditEvent.occurred_at)
            .where(AuditEvent.action.in_(("backup.verified", "backup.verify_failed")))
            .order_by(AuditEvent.seq)
        )
        for backup_id, action, when in rows:
            status[backup_id] = (action == "backup.verified", when)
    return status


def apply_retention(
    store: BackupStore,
    clinic_id: str,
    *,
    daily: int = 7,
    weekly: int = 4,
    monthly: int = 12,
    tz: tzinfo = UTC,
    runtime: ClinicRuntime | None = None,
    actor: Actor | None = None,
) -> list[str]:
    """Delete the clinic's backups the policy does not keep (see retention_keep); the ids deleted.

    Backups whose manifest cannot be read, other clinics' backups and unfinished ones are
    never touched.
    """
    mine = [(b.backup_id, b.created_at) for b in list_backups(store, clinic_id) if b.readable and b.created_at]
    keep = retention_keep(mine, Retention(daily, weekly, monthly), tz=tz)
    doomed = sorted(backup_id for backup_id, _ in mine if backup_id not in keep)
    for backup_id in doomed:
        store.delete(backup_id)
    if doomed and runtime is not None:
        _audit(
            runtime,
            actor,
            "backup.pruned",
            "",
            {"store": store.describe(), "deleted": doomed, "policy": [daily, weekly, monthly]},
        )
    return doomed


def measure_throughput(
    runtime: ClinicRuntime, folder: Path, *, passphrase: PassphraseProvider = _no_passphrase
) -> dict[str, float]:
    """Back the clinic up into `folder`, then delete that backup; MB/s for `chairside bench`."""
    store = FolderStore(folder)
    report = create(runtime, store, passphrase=passphrase)
    store.delete(report.backup_id)
    return {
        "backup_mb_per_s": round(report.mb_per_s, 1),
        "backup_mb": round(report.total_size / 1e6, 1),
        "backup_s": round(report.seconds, 3),
    }


def _audit(runtime: ClinicRuntime, actor: Actor | None, action: str, backup_id: str, details: dict[str, Any]) -> None:
    with Ctx(runtime, actor).uow() as uow:
        uow.audit(action, entity_type="backup", entity_id=backup_id, details=details)
        uow.commit()
