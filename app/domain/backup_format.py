"""The encrypted backup format's pure parts: ids, the manifest, chunk layout and retention.

No cryptography and no files here (app.services.backup does those); this module says what
a backup looks like and which backups a retention policy keeps.
"""

import base64
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import PurePosixPath
from typing import Any

FORMAT = "chairside-backup/1"
CHUNK_SIZE = 8 * 1024 * 1024  # plaintext bytes per chunk (the last one may be shorter)
NONCE_SIZE = 12  # AES-GCM's 96-bit nonce, stored in front of each chunk's ciphertext
TAG_SIZE = 16
DB_NAME = "clinic.db"  # the database snapshot's name inside a backup

_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


class ManifestUnreadable(ValueError):
    """The manifest is not JSON of this format (its authenticity is checked elsewhere)."""


def new_backup_id(now: datetime) -> str:
    """`20260314T020000Z-a1b2c3`: sorts by time; the random tail keeps two of one second apart."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def is_backup_id(text: str) -> bool:
    return bool(_ID.match(text))


def chunk_name(index: int) -> str:
    return f"chunk-{index:06d}.bin"


def chunk_aad(backup_id: str, index: int) -> bytes:
    """Associated data of a chunk: moving a chunk to another place or backup breaks its tag."""
    return f"{FORMAT}|{backup_id}|chunk|{index}".encode()


def files_aad(backup_id: str) -> bytes:
    return f"{FORMAT}|{backup_id}|files".encode()


def safe_relpath(name: str) -> str:
    """A file name inside a backup: relative, forward slashes, no '..' (never written outside)."""
    p = PurePosixPath(name)
    if not name or p.is_absolute() or "\\" in name or any(part in ("", ".", "..") for part in name.split("/")):
        raise ManifestUnreadable(f"unsafe file name in backup: {name!r}")
    return str(p)


@dataclass(frozen=True)
class ChunkEntry:
    index: int  # 1-based
    size: int  # stored bytes: nonce + ciphertext + tag
    plain_size: int
    sha256: str  # of the stored bytes: a transfer checksum (the GCM tag is the real check)


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the data dir, '/'-separated
    offset: int  # where the file starts in the plaintext stream
    size: int
    sha256: str  # of the plaintext


@dataclass(frozen=True)
class Manifest:
    """What manifest.json holds (its `body`); authenticated by an HMAC beside it."""

    backup_id: str
    clinic_id: str
    clinic_name: str
    created_at: str  # ISO 8601, UTC
    workstation_id: str
    app_version: str
    schema_revision: str
    key_file: dict[str, Any]  # the clinic.key record: the DB key wrapped by the recovery passphrase
    hkdf_salt: bytes
    chunk_size: int
    chunks: tuple[ChunkEntry, ...]
    total_size: int  # plaintext bytes: database snapshot and files
    stored_size: int  # bytes of all chunks
    files_nonce: bytes
    files_sealed: bytes  # the FileEntry list, AES-GCM encrypted (names and hashes stay private)
    format: str = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    def body(self) -> dict[str, Any]:
        d = asdict(self)
        d["hkdf_salt"] = _b64(self.hkdf_salt)
        d["files_nonce"] = _b64(self.files_nonce)
        d["files_sealed"] = _b64(self.files_sealed)
        d["chunks"] = [asdict(c) for c in self.chunks]
        return d


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes the manifest MAC covers: sorted keys, no spaces, so any edit changes them."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def encode_manifest(manifest: Manifest, mac: bytes) -> bytes:
    return json.dumps({"body": manifest.body(), "mac": mac.hex()}, indent=1, sort_keys=True).encode()


def decode_manifest(data: bytes) -> tuple[Manifest, bytes, bytes]:
    """(manifest, mac, the canonical bytes the mac should cover) or ManifestUnreadable."""
    try:
        outer = json.loads(data)
        body = outer["body"]
        if body.get("format") != FORMAT:
            raise ManifestUnreadable(f"unknown backup format {body.get('format')!r}")
        m = Manifest(
            backup_id=str(body["backup_id"]),
            clinic_id=str(body["clinic_id"]),
            clinic_name=str(body["clinic_name"]),
            created_at=str(body["created_at"]),
            workstation_id=str(body["workstation_id"]),
            app_version=str(body["app_version"]),
            schema_revision=str(body["schema_revision"]),
            key_file=dict(body["key_file"]),
            hkdf_salt=base64.b64decode(body["hkdf_salt"]),
            chunk_size=int(body["chunk_size"]),
            chunks=tuple(
                ChunkEntry(int(c["index"]), int(c["size"]), int(c["plain_size"]), str(c["sha256"]))
                for c in body["chunks"]
            ),
            total_size=int(body["total_size"]),
            stored_size=int(body["stored_size"]),
            files_nonce=base64.b64decode(body["files_nonce"]),
            files_sealed=base64.b64decode(body["files_sealed"]),
            extra=dict(body.get("extra", {})),
        )
        datetime.fromisoformat(m.created_at)
        return m, bytes.fromhex(outer["mac"]), canonical(body)
    except ManifestUnreadable:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ManifestUnreadable(f"manifest is not readable ({type(e).__name__})") from None


def encode_files(files: Sequence[FileEntry]) -> bytes:
    return json.dumps([asdict(f) for f in files], separators=(",", ":")).encode()


def decode_files(data: bytes) -> list[FileEntry]:
    try:
        files = [
            FileEntry(safe_relpath(str(f["path"])), int(f["offset"]), int(f["size"]), str(f["sha256"]))
            for f in json.loads(data)
        ]
    except (ValueError, KeyError, TypeError) as e:
        raise ManifestUnreadable(f"file list is not readable ({e})") from None
    return files


def check_layout(manifest: Manifest, files: Sequence[FileEntry]) -> None:
    """Chunks numbered 1..n, sizes adding up, files tiling the stream without gaps or overlaps."""
    if [c.index for c in manifest.chunks] != list(range(1, len(manifest.chunks) + 1)):
        raise ManifestUnreadable("chunk list is not numbered 1..n")
    if sum(c.plain_size for c in manifest.chunks) != manifest.total_size:
        raise ManifestUnreadable("chunk sizes do not add up to the total size")
    if any(
        c.plain_size > manifest.chunk_size or c.size != c.plain_size + NONCE_SIZE + TAG_SIZE for c in manifest.chunks
    ):
        raise ManifestUnreadable("a chunk has an impossible size")
    pos = 0
    for f in sorted(files, key=lambda f: f.offset):
        if f.offset != pos or f.size < 0:
            raise ManifestUnreadable("file list does not tile the backup")
        pos += f.size
    if pos != manifest.total_size:
        raise ManifestUnreadable("file sizes do not add up to the total size")
    if len({f.path for f in files}) != len(files):
        raise ManifestUnreadable("a file appears twice in the backup")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


# --- retention ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Retention:
    daily: int = 7
    weekly: int = 4
    monthly: int = 12


def _day(t: datetime, tz: tzinfo) -> date:
    return t.astimezone(tz).date()


def retention_keep(backups: Iterable[tuple[str, datetime]], policy: Retention, *, tz: tzinfo = UTC) -> set[str]:
    """The ids a policy keeps, as `borg prune` / `restic forget` count them.

    Going from the newest backup back, keep the newest backup of each of the last `daily`
    days that have a backup, of each of the last `weekly` ISO weeks that have one, and of
    each of the last `monthly` months that have one. Periods without a backup do not use
    up the count, so a workstation that was off for a fortnight still keeps seven dailies.
    The newest backup is always kept, whatever the policy says.
    """
    ordered = sorted(backups, key=lambda b: (b[1], b[0]), reverse=True)
    keep: set[str] = set()
    if not ordered:
        return keep
    keep.add(ordered[0][0])
    periods: list[tuple[int, Any]] = [
        (policy.daily, lambda t: _day(t, tz)),
        (policy.weekly, lambda t: _day(t, tz).isocalendar()[:2]),
        (policy.monthly, lambda t: (_day(t, tz).year, _day(t, tz).month)),
    ]
    for count, period_of in periods:
        seen: set[Any] = set()
        for backup_id, created in ordered:
            if len(seen) >= count:
                break
            period = period_of(created)
            if period not in seen:
                seen.add(period)
                keep.add(backup_id)
    return keep
