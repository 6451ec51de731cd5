"""One seeded demo clinic (and its twin, for determinism) shared by the demo tests: seeding a
year of bookings and charts takes seconds, so it is done once per run."""

from collections.abc import Iterator
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import keyring
import pytest

from app import bootstrap
from app.domain.scheduling import local_to_utc
from app.services import demo
from app.services.runtime import ClinicRuntime
from tests.conftest import ADMIN_PASSWORD, PASSPHRASE, STAFF_PASSWORD, MemoryKeyring

DEMO_PATIENTS = 250
DEMO_TZ = ZoneInfo("America/New_York")
DEMO_TODAY = datetime.now(DEMO_TZ).date()
DEMO_NOW = local_to_utc(DEMO_TODAY, time(11, 5), DEMO_TZ)


def _make(folder: Path) -> ClinicRuntime:
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        rt = bootstrap.create_clinic(folder, clinic_name="Demo", passphrase=PASSPHRASE, admin_password=ADMIN_PASSWORD)
        demo.seed(rt, patients=DEMO_PATIENTS, staff_password=STAFF_PASSWORD, now=DEMO_NOW)
        return rt
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def demo_clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClinicRuntime]:
    rt = _make(tmp_path_factory.mktemp("demo") / "clinic")
    yield rt
    rt.close()


@pytest.fixture(scope="session")
def demo_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClinicRuntime]:
    """A second clinic seeded the same way: the demo must come out the same."""
    rt = _make(tmp_path_factory.mktemp("demo-twin") / "clinic")
    yield rt
    rt.close()
