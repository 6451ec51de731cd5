"""Clinics' encrypted backups on the service's disk: opaque blobs, one folder per clinic.

Layout under BACKUP_DIR: `<clinic id>/<backup id>/` holds a complete backup
(`manifest.json`, `chunk-000001.bin`, ...) and `<clinic id>/<backup id>.partial/` one being
uploaded (plus its `state.json`): the workstation's backup-folder layout, so a clinic's
folder copied off the server restores with `chairside backup restore --folder`.

Every write goes to a uniquely named temporary file, is fsynced and renamed into place, so
a chunk is either absent or whole, and two retries of one chunk cannot interleave. An
upload becomes a backup by renaming its folder, after the manifest is written and every
chunk 1..N is there. The folder name comes from the device token's clinic only, and ids
are checked against `BLOB_ID` (one path segment, no dots): no request reaches another
clinic's folder or leaves BACKUP_DIR. Errors name ids and chunk numbers, never paths.
"""

import errno
import hashlib
import os
import secrets
import shutil
from pathlib import Path

from sync.backups import BLOB_ID, MAX_CHUNKS, MAX_STATE_BYTES
from sync.server.services import ServiceError

MANIFEST, STATE, PARTIAL = "manifest.json", "state.json", ".partial"


class BackupNotFound(ServiceError):
    pass


class BackupConflict(ServiceError):
    pass


class StorageFailed(ServiceError):
    pass


def chunk_name(index: int) -> str:
    return f"chunk-{index:06d}.bin"


def _checked_id(backup_id: str) -> str:
    if not BLOB_ID.fullmatch(backup_id):
        raise ServiceError("That is not a valid backup id (letters, digits, '-' and '_' only).")
    return backup_id


def _checked_index(index: int) -> int:
    if not 1 <= index <= MAX_CHUNKS:
        raise ServiceError(f"Chunk numbers run from 1 to {MAX_CHUNKS}.")
    return index


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _storage_failed(exc: OSError) -> StorageFailed:
    reason = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return StorageFailed(f"The cloud service could not store the backup ({reason}); try again later.")


class ClinicBackups:
    """One clinic's backups under `root / clinic_id`."""

    def __init__(self, root: Path, clinic_id: str) -> None:
        self.folder = Path(root) / _checked_id(clinic_id)

    def _final(self, backup_id: str) -> Path:
        return self.folder / _checked_id(backup_id)

    def _upload(self, backup_id: str) -> Path:
        return self.folder / (_checked_id(backup_id) + PARTIAL)

    def _existing_upload(self, backup_id: str) -> Path:
        folder = self._upload(backup_id)
        if not folder.is_dir():
            raise BackupNotFound(f"There is no unfinished upload of backup {backup_id}; begin it first.")
        return folder

    def _names(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir()) if self.folder.is_dir() else []

    def list_backups(self) -> list[str]:
        return [n for n in self._names() if BLOB_ID.fullmatch(n) and (self.folder / n / MANIFEST).is_file()]

    def list_uploads(self) -> list[str]:
        names = (n.removesuffix(PARTIAL) for n in self._names() if n.endswith(PARTIAL))
        return [n for n in names if BLOB_ID.fullmatch(n)]

    def begin(self, backup_id: str, state: bytes) -> None:
        if len(state) > MAX_STATE_BYTES:
            raise ServiceError(f"A backup's state is at most {MAX_STATE_BYTES // 1024} KiB.")
        if self._final(backup_id).exists():
            raise BackupConflict(f"Backup {backup_id} is already complete; start a new one.")
        folder = self._upload(backup_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(folder / STATE, state)
        except OSError as exc:
            raise _storage_failed(exc) from None

    def state(self, backup_id: str) -> Path:
        path = self._existing_upload(backup_id) / STATE
        if not path.is_file():
            raise BackupNotFound(f"The upload of backup {backup_id} has no state.")
        return path

    def put_chunk(self, backup_id: str, index: int, data: bytes, sha256: str) -> None:
        """Store chunk `index` if `data` matches the digest the workstation computed."""
        folder = self._existing_upload(backup_id)
        if hashlib.sha256(data).hexdigest() != sha256.strip().lower():
            raise ServiceError(
                f"Chunk {index} of backup {backup_id} arrived damaged (its SHA-256 does not match); send it again."
            )
        try:
            _write_atomically(folder / chunk_name(_checked_index(index)), data)
        except OSError as exc:
            raise _storage_failed(exc) from None

    def chunk_sha256(self, backup_id: str, index: int) -> str | None:
        path = self._existing_upload(backup_id) / chunk_name(_checked_index(index))
        try:
            with open(path, "rb") as f:
                return hashlib.file_digest(f, "sha256").hexdigest()
        except FileNotFoundError:
            return None

    def complete(self, backup_id: str, manifest: bytes, chunks: int) -> None:
        """Write the manifest and turn the upload into a backup; a repeat of a done one is fine."""
        final, folder = self._final(backup_id), self._upload(backup_id)
        if not manifest:
            raise ServiceError("A backup's manifest cannot be empty.")
        if not folder.is_dir():
            if (final / MANIFEST).is_file() and (final / MANIFEST).read_bytes() == manifest:
                return  # a retry whose first reply was lost
            raise BackupNotFound(f"There is no unfinished upload of backup {backup_id}.")
        missing = [i for i in range(1, _checked_index(chunks) + 1) if not (folder / chunk_name(i)).is_file()]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise BackupConflict(f"Backup {backup_id} cannot be completed: chunks {shown} were not uploaded.")
        try:
            for p in folder.iterdir():  # a longer interrupted run's extra chunks, a crash's temporaries
                if p.name.endswith(".tmp") or (p.name.startswith("chunk-") and p.name > chunk_name(chunks)):
                    p.unlink()
            _write_atomically(folder / MANIFEST, manifest)
            (folder / STATE).unlink(missing_ok=True)
            _fsync_dir(folder)
            os.replace(folder, final)
            _fsync_dir(self.folder)
        except OSError as exc:
            raise _storage_failed(exc) from None

    def manifest(self, backup_id: str) -> Path:
        path = self._final(backup_id) / MANIFEST
        if not path.is_file():
            raise BackupNotFound(f"There is no backup {backup_id}.")
        return path

    def chunk(self, backup_id: str, index: int) -> Path:
        path = self.manifest(backup_id).with_name(chunk_name(_checked_index(index)))
        if not path.is_file():
            raise BackupNotFound(f"Backup {backup_id} has no chunk {index}.")
        return path

    def delete(self, backup_id: str) -> None:
        self._remove(self.manifest(backup_id).parent)

    def discard(self, backup_id: str) -> None:
        self._remove(self._existing_upload(backup_id))

    def _remove(self, folder: Path) -> None:
        # renamed first: a deletion cut short never leaves a listed, incomplete backup
        doomed = folder.with_name(f"{folder.name}.deleting-{secrets.token_hex(4)}")
        try:
            os.replace(folder, doomed)
        except FileNotFoundError:
            return  # deleted meanwhile by another request
        shutil.rmtree(doomed, ignore_errors=True)
