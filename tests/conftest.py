"""Shared fixtures: an in-memory keyring, and real encrypted clinics in temporary folders."""

import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import keyring
import pytest
from keyring.backend import KeyringBackend

# a full-HD virtual screen: Qt's default offscreen screen (800x800) is smaller than the window
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={Path(__file__).parent / 'offscreen-screen.json'}")

PASSPHRASE = "correct horse battery staple"
ADMIN_PASSWORD = "admin-password-1"
STAFF_PASSWORD = "staff-password-1"
CLINIC_ZONE = "America/New_York"  # create_clinic's default


def clinic_today() -> date:
    """Today at the test clinic, which is what services date records by (not this machine's day)."""
    return datetime.now(ZoneInfo(CLINIC_ZONE)).date()


class MemoryKeyring(KeyringBackend):
    """A keyring that lives for one test: headless Linux has no real one."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("CHAIRSIDE_RECOVERY_PASSPHRASE", "CHAIRSIDE_ADMIN_PASSWORD", "CHAIRSIDE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    # QSettings and platformdirs write under HOME/XDG: keep them in the test's folder
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture
def clinic_dir(tmp_path: Path) -> Path:
    return tmp_path / "clinic"


@pytest.fixture
def runtime(clinic_dir: Path):  # type: ignore[no-untyped-def]
    """A new, empty encrypted clinic with one administrator ('admin')."""
    from app import bootstrap

    rt = bootstrap.create_clinic(
        clinic_dir, clinic_name="Test Dental", passphrase=PASSPHRASE, admin_password=ADMIN_PASSWORD
    )
    yield rt
    rt.close()


@pytest.fixture
def staff(runtime):  # type: ignore[no-untyped-def]
    """A signed-in context for each role: {'administrator': Ctx, 'dentist': Ctx, ...}."""
    from app.domain.permissions import Role
    from app.services import auth, users
    from app.services.context import Ctx

    admin = Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))
    contexts = {Role.ADMINISTRATOR: admin}
    for role in (Role.DENTIST, Role.HYGIENIST, Role.RECEPTIONIST):
        users.add_staff(admin, users.NewStaff(role.value, f"Test {role.label}", role, STAFF_PASSWORD))
        contexts[role] = Ctx(runtime, auth.sign_in(runtime, role.value, STAFF_PASSWORD))
    return contexts


_exit_status = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without interpreter teardown once every result is reported.

    PySide wrappers destroyed in arbitrary order at interpreter shutdown can crash Qt after
    the run is over (seen rarely with dozens of windows made and closed); the exit status
    must be the tests' verdict, not that.
    """
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
