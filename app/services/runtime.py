"""The open clinic: engine, sessions, write lock, policy and caches, built by app.bootstrap."""

import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.db import changelog


class ChairsideSession(Session):
    """Sessions of the clinic database; each flush also writes the change log."""


changelog.install(ChairsideSession)


@dataclass
class SecurityPolicy:
    max_failed_logins: int = 5
    lockout_minutes: int = 15
    idle_lock_minutes: int = 15
    min_password_length: int = 10


@dataclass
class ClinicInfo:
    clinic_id: str
    name: str
    phone_region: str
    date_order: str
    time_zone: str
    tooth_numbering: str = "universal"
    probing_path: str = "s-curve"


@dataclass
class ClinicRuntime:
    data_dir: Path
    engine: Engine
    workstation_id: str
    workstation_name: str
    info: ClinicInfo
    policy: SecurityPolicy = field(default_factory=SecurityPolicy)
    # the key the database was opened with (it is in the engine's connections anyway): the
    # nightly backup needs it on a workstation whose keyring cannot keep it
    db_key: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        self.sessions = sessionmaker(self.engine, class_=ChairsideSession, expire_on_commit=False)
        # one writer at a time in this process: SQLite serialises writers anyway, and the
        # audit chain needs "read the head, append, move the head" to be atomic
        self.write_lock = threading.RLock()
        self._caches: dict[str, object] = {}

    def cache(self, name: str, factory: type) -> object:
        """A per-clinic cache object, made on first use."""
        with self.write_lock:
            if name not in self._caches:
                self._caches[name] = factory()
            return self._caches[name]

    def close(self) -> None:
        self.engine.dispose()
