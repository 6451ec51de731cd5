"""The `chairside` command as clinic IT runs it: init, key export, with clear errors and exit codes."""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlcipher3

from app import bootstrap
from app.domain.patients import PatientInput
from app.services import auth, patients
from app.services.context import Ctx
from tests.conftest import ADMIN_PASSWORD, PASSPHRASE

REPO = Path(__file__).resolve().parents[2]
KEY_LITERAL = re.compile(r"^x'[0-9A-Fa-f]{64}'$")


def chairside(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        # a headless workstation: no keyring, never the developer's real one
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO,
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_init_creates_a_clinic_the_administrator_can_sign_in_to(tmp_path):
    data = tmp_path / "new-clinic"
    result = chairside(
        "init",
        "--data-dir",
        str(data),
        "--clinic-name",
        "Smile Street Dental",
        "--region",
        "gb",
        "--date-order",
        "DMY",
        CHAIRSIDE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        CHAIRSIDE_RECOVERY_PASSPHRASE=PASSPHRASE,
    )
    assert result.returncode == 0, result.stderr
    assert "Created clinic 'Smile Street Dental'" in result.stdout
    assert (data / "clinic.db").exists() and (data / "clinic.key").exists()
    runtime = bootstrap.open_clinic(data, lambda: PASSPHRASE)
    try:
        assert (runtime.info.name, runtime.info.phone_region, runtime.info.date_order) == (
            "Smile Street Dental",
            "GB",
            "DMY",
        )
        assert auth.sign_in(runtime, "admin", ADMIN_PASSWORD).display_name == "Practice Administrator"
    finally:
        runtime.close()


def test_init_without_an_administrator_password_says_what_to_set(tmp_path):
    data = tmp_path / "new-clinic"
    result = chairside("init", "--data-dir", str(data), CHAIRSIDE_RECOVERY_PASSPHRASE=PASSPHRASE)
    assert result.returncode == 2
    assert "Set CHAIRSIDE_ADMIN_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (data / "clinic.db").exists()


def test_init_without_a_recovery_passphrase_says_how_to_give_one(tmp_path):
    data = tmp_path / "new-clinic"
    result = chairside("init", "--data-dir", str(data), CHAIRSIDE_ADMIN_PASSWORD=ADMIN_PASSWORD)
    assert result.returncode == 2
    assert "recovery passphrase is needed" in result.stderr
    assert not (data / "clinic.db").exists()


def test_init_with_a_short_passphrase_is_refused(tmp_path):
    data = tmp_path / "new-clinic"
    result = chairside(
        "init",
        "--data-dir",
        str(data),
        CHAIRSIDE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        CHAIRSIDE_RECOVERY_PASSPHRASE="short",
    )
    assert result.returncode == 2
    assert "at least 12 characters" in result.stderr
    assert not (data / "clinic.key").exists()


def test_init_into_an_existing_clinic_is_refused_and_changes_nothing(runtime, clinic_dir):
    runtime.close()
    db_before, key_before = sha256(clinic_dir / "clinic.db"), sha256(clinic_dir / "clinic.key")
    result = chairside(
        "init",
        "--data-dir",
        str(clinic_dir),
        CHAIRSIDE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        CHAIRSIDE_RECOVERY_PASSPHRASE=PASSPHRASE,
    )
    assert result.returncode == 2
    assert "There is already a clinic in" in result.stderr
    assert (sha256(clinic_dir / "clinic.db"), sha256(clinic_dir / "clinic.key")) == (db_before, key_before)


def test_init_reads_the_passphrase_from_a_file(tmp_path):
    data = tmp_path / "new-clinic"
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    result = chairside(
        "init", "--data-dir", str(data), "--passphrase-file", str(secret), CHAIRSIDE_ADMIN_PASSWORD=ADMIN_PASSWORD
    )
    assert result.returncode == 0, result.stderr
    # the trailing newline of the file is not part of the passphrase
    bootstrap.open_clinic(data, lambda: PASSPHRASE).close()


def test_key_export_prints_a_key_that_opens_the_database_with_sqlcipher(runtime, clinic_dir, tmp_path):
    admin = Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))
    patients.register(admin, PatientInput("Ada", "Lovelace", "12/10/1985"))
    runtime.close()
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE, encoding="utf-8")
    result = chairside("key", "export", "--data-dir", str(clinic_dir), "--passphrase-file", str(secret))
    assert result.returncode == 0, result.stderr
    literal = result.stdout.strip()
    assert KEY_LITERAL.match(literal), literal
    conn = sqlcipher3.connect(str(clinic_dir / "clinic.db"))
    try:
        conn.execute(f'PRAGMA key = "{literal}"')
        assert conn.execute("SELECT count(*) FROM patient").fetchone() == (1,)
        assert conn.execute("SELECT last_name FROM patient").fetchone() == ("Lovelace",)
    finally:
        conn.close()


def test_key_export_takes_the_passphrase_from_the_environment_and_data_dir_before_the_subcommand(runtime, clinic_dir):
    runtime.close()
    result = chairside("--data-dir", str(clinic_dir), "key", "export", CHAIRSIDE_RECOVERY_PASSPHRASE=PASSPHRASE)
    assert result.returncode == 0, result.stderr
    assert KEY_LITERAL.match(result.stdout.strip())


def test_key_export_with_a_wrong_passphrase_is_refused(runtime, clinic_dir, tmp_path):
    runtime.close()
    secret = tmp_path / "wrong.txt"
    secret.write_text("incorrect horse battery staple", encoding="utf-8")
    result = chairside("key", "export", "--data-dir", str(clinic_dir), "--passphrase-file", str(secret))
    assert result.returncode == 2
    assert "not this clinic's" in result.stderr
    assert result.stdout == ""


def test_key_export_with_an_unreadable_passphrase_file_says_so(runtime, clinic_dir, tmp_path):
    runtime.close()
    result = chairside(
        "key", "export", "--data-dir", str(clinic_dir), "--passphrase-file", str(tmp_path / "missing.txt")
    )
    assert result.returncode == 2
    assert "Cannot read the passphrase file" in result.stderr


@pytest.mark.parametrize("command", [("key", "export"), ("audit", "verify")])
def test_commands_on_a_folder_without_a_clinic_explain_the_problem(tmp_path, command):
    result = chairside(*command, "--data-dir", str(tmp_path / "nothing"), CHAIRSIDE_RECOVERY_PASSPHRASE=PASSPHRASE)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "missing" in result.stderr or "no clinic" in result.stderr
