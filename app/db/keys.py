"""The database key: random, kept in the OS keyring, wrapped by the recovery passphrase.

The key file beside the database holds the key encrypted with AES-256-GCM under a key
derived from the clinic's recovery passphrase with argon2id, so clinic IT can open the
database on a new machine with the passphrase alone.
"""

import base64
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import keyring
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keyring.errors import KeyringError

from app.domain.errors import UserError

log = logging.getLogger(__name__)

KEYRING_SERVICE = "chairside"
KEY_FILE_FORMAT = "chairside-key/1"
# argon2id at OWASP's first recommendation; about 30 ms here, paid once per unlock
KDF_PARAMS = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
MIN_PASSPHRASE = 12


class KeyFileMissing(UserError):
    pass


class KeyFileDamaged(UserError):
    pass


class WrongPassphrase(UserError):
    pass


class WeakPassphrase(UserError):
    pass


@dataclass(frozen=True)
class KeyFile:
    clinic_id: str
    salt: bytes
    nonce: bytes
    wrapped: bytes
    kdf: dict[str, int]


def _derive(passphrase: str, salt: bytes, kdf: dict[str, int]) -> bytes:
    return hash_secret_raw(passphrase.encode(), salt, hash_len=32, type=Type.ID, **kdf)


def _aad(clinic_id: str) -> bytes:
    # binds the wrapped key to this clinic: a key file copied from another clinic won't open
    return f"{KEY_FILE_FORMAT}:{clinic_id}".encode()


def check_passphrase_strength(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise WeakPassphrase(
            f"The recovery passphrase must have at least {MIN_PASSPHRASE} characters; a few unrelated words work well."
        )


def create_key() -> bytes:
    """A new random 256-bit raw database key (no KDF cost when opening)."""
    return os.urandom(32)


def wrap_key(key: bytes, passphrase: str, clinic_id: str) -> KeyFile:
    """Encrypt the database key under the recovery passphrase."""
    salt, nonce = os.urandom(16), os.urandom(12)
    kek = _derive(passphrase, salt, KDF_PARAMS)
    wrapped = AESGCM(kek).encrypt(nonce, key, _aad(clinic_id))
    return KeyFile(clinic_id, salt, nonce, wrapped, dict(KDF_PARAMS))


def unwrap_key(kf: KeyFile, passphrase: str) -> bytes:
    """The database key, or WrongPassphrase."""
    kek = _derive(passphrase, kf.salt, kf.kdf)
    try:
        return AESGCM(kek).decrypt(kf.nonce, kf.wrapped, _aad(kf.clinic_id))
    except InvalidTag:
        raise WrongPassphrase("That recovery passphrase is not this clinic's.") from None


def write_key_file(path: Path, kf: KeyFile) -> None:
    """Write atomically: a crash mid-write leaves the old file or the new one, never half."""
    body = key_file_record(kf)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(body, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_key_file(path: Path) -> KeyFile:
    if not path.exists():
        raise KeyFileMissing(
            f"The key file {path} is missing. Restore it from the clinic's backup: "
            "without it the database cannot be opened."
        )
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise KeyFileDamaged(f"The key file {path} is damaged or not a Chairside key file.") from None
    return key_file_from_record(body, f"The key file {path}")


def key_file_record(kf: KeyFile) -> dict[str, object]:
    """The key file's JSON body (also carried in backups' manifests)."""
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return {
        "format": KEY_FILE_FORMAT,
        "clinic_id": kf.clinic_id,
        "kdf": {"name": "argon2id", **kf.kdf},
        "salt": b64(kf.salt),
        "nonce": b64(kf.nonce),
        "wrapped_key": b64(kf.wrapped),
    }


def key_file_from_record(body: object, what: str = "The key record") -> KeyFile:
    try:
        if not isinstance(body, dict) or body.get("format") != KEY_FILE_FORMAT:
            raise ValueError("unknown format")
        kdf = {k: int(body["kdf"][k]) for k in ("time_cost", "memory_cost", "parallelism")}
        return KeyFile(
            clinic_id=str(body["clinic_id"]),
            salt=base64.b64decode(body["salt"]),
            nonce=base64.b64decode(body["nonce"]),
            wrapped=base64.b64decode(body["wrapped_key"]),
            kdf=kdf,
        )
    except (ValueError, KeyError, TypeError):
        raise KeyFileDamaged(f"{what} is damaged or not a Chairside key file.") from None


def keyring_load(clinic_id: str) -> bytes | None:
    """The key from the OS keyring, or None when there is no keyring or no entry."""
    try:
        value = keyring.get_password(KEYRING_SERVICE, clinic_id)
    except KeyringError as e:  # includes NoKeyringError on headless Linux
        log.info("no usable keyring (%s); the recovery passphrase is needed", type(e).__name__)
        return None
    if not value:
        return None
    try:
        key = bytes.fromhex(value)
    except ValueError:
        return None
    return key if len(key) == 32 else None


def keyring_store(clinic_id: str, key: bytes) -> bool:
    """Keep the key in the OS keyring (hex fits Windows' 2,560-byte limit); False if none."""
    try:
        keyring.set_password(KEYRING_SERVICE, clinic_id, key.hex())
    except KeyringError as e:
        log.info("could not store the key in the keyring (%s)", type(e).__name__)
        return False
    return True


def sqlcipher_key_literal(key: bytes) -> str:
    """The key as SQLCipher's raw-key literal, for PRAGMA key."""
    return f"x'{key.hex().upper()}'"
