"""`chairside cloud enrol|join|status` and `chairside sync` as clinic IT scripts them: real
processes against the service on loopback, exit codes and messages."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.services.runtime import ClinicRuntime
from sync.server.config import Settings
from sync.server.services import clinics
from tests.conftest import PASSPHRASE
from tests.integration.test_cli import chairside
from tests.server.workstations import Served, free_port, serve

WITH_PASSPHRASE = {"CHAIRSIDE_RECOVERY_PASSPHRASE": PASSPHRASE}


@pytest.fixture(scope="module")
def service(database_url: str) -> Iterator[Served]:
    with serve(Settings(database_url=database_url, enrol_rate_per_minute=10_000)) as served:
        yield served


def test_clinic_it_enrols_a_clinic_joins_a_workstation_and_syncs_from_the_command_line(
    runtime: ClinicRuntime, clinic_dir: Path, service: Served, db: Session, tmp_path: Path
) -> None:
    runtime.close()
    clinic_id = clinics.create_clinic(db, "Riverside Dental").id
    desk, surgery = ("--data-dir", str(clinic_dir)), ("--data-dir", str(tmp_path / "surgery"))

    alone = chairside("cloud", "status", *desk, **WITH_PASSPHRASE)
    unreachable = chairside(
        "cloud", "enrol", *desk, "--url", f"http://127.0.0.1:{free_port()}", "--code", "7KQ2-M9XD-4TPA",
        **WITH_PASSPHRASE,
    )  # fmt: skip
    wrong_code = chairside("cloud", "enrol", *desk, "--url", service.url, "--code", "AAAA-BBBB-CCCC", **WITH_PASSPHRASE)
    code = clinics.create_enrol_code(db, clinic_id)
    enrolled = chairside("cloud", "enrol", *desk, "--url", service.url, "--code", code, **WITH_PASSPHRASE)
    joined = chairside(
        "cloud", "join", *surgery, "--url", service.url, "--code", clinics.create_enrol_code(db, clinic_id),
        **WITH_PASSPHRASE,
    )  # fmt: skip
    synced = chairside("sync", *surgery, **WITH_PASSPHRASE)
    status = chairside("cloud", "status", *surgery, **WITH_PASSPHRASE)

    assert alone.returncode == 1 and "Not enrolled with a cloud service." in alone.stdout
    assert unreachable.returncode != 0 and "could not be reached" in unreachable.stderr
    assert wrong_code.returncode != 0 and "not valid" in wrong_code.stderr
    assert enrolled.returncode == 0, enrolled.stderr
    assert f"Enrolled this workstation with {service.url}; pushing the whole clinic." in enrolled.stdout
    assert "Synced: " in enrolled.stdout and " audit events sent" in enrolled.stdout
    assert joined.returncode == 0, joined.stderr
    assert synced.returncode == 0 and "Synced: 0 rows sent, 0 received" in synced.stdout
    assert status.returncode == 0 and f"Cloud: {service.url}" in status.stdout
    assert "pending: 0; conflicts: 0;" in status.stdout
    # a second join onto a folder that already holds a clinic is refused, and the clinic kept
    again = chairside(
        "cloud", "join", *surgery, "--url", service.url, "--code", clinics.create_enrol_code(db, clinic_id),
        **WITH_PASSPHRASE,
    )  # fmt: skip
    assert again.returncode != 0 and "already" in again.stderr, again.stderr
    assert (tmp_path / "surgery" / "clinic.db").is_file()
