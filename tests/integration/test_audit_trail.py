"""The audit trail records who did what from which workstation, and `audit verify` finds tampering."""

import csv
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from app.db.models import AuditEvent
from app.domain.patients import InsuranceInput, PatientInput
from app.domain.permissions import Role
from app.services import audit, auth, patients, users
from app.services.auth import InvalidCredentials
from app.services.context import Ctx
from tests.conftest import ADMIN_PASSWORD, PASSPHRASE, STAFF_PASSWORD

REPO = Path(__file__).resolve().parents[2]


def events(runtime) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def events_since(runtime, seq: int) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    return [e for e in events(runtime) if e.seq > seq]


def last_seq(runtime) -> int:  # type: ignore[no-untyped-def]
    return events(runtime)[-1].seq


def sign_in_admin(runtime) -> Ctx:  # type: ignore[no-untyped-def]
    return Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))


def test_creating_the_clinic_is_the_first_event(runtime):
    first = events(runtime)[0]
    assert first.seq == 1
    assert first.action == "clinic.created"
    assert first.workstation_id == runtime.workstation_id
    assert json.loads(first.details)["first_administrator"] == "admin"


def test_signing_in_and_out_is_recorded_with_user_and_workstation(runtime):
    start = last_seq(runtime)
    admin = sign_in_admin(runtime)
    auth.sign_out(admin)
    sign_in, sign_out = events_since(runtime, start)
    assert (sign_in.action, sign_out.action) == ("auth.sign_in", "auth.sign_out")
    for ev in (sign_in, sign_out):
        assert ev.user_id == admin.actor.user_id
        assert ev.username == "admin"
        assert ev.workstation_id == runtime.workstation_id


def test_a_failed_sign_in_is_recorded_with_the_name_that_was_tried(runtime):
    start = last_seq(runtime)
    with pytest.raises(InvalidCredentials):
        auth.sign_in(runtime, "Admin ", "not-the-password")
    with pytest.raises(InvalidCredentials):
        auth.sign_in(runtime, "nobody", "whatever-password")
    known, unknown = events_since(runtime, start)
    assert known.action == unknown.action == "auth.sign_in_failed"
    assert known.username == "admin" and known.user_id is not None
    assert json.loads(known.details) == {"failed_logins": 1}
    assert unknown.username == "nobody" and unknown.user_id is None
    assert known.workstation_id == runtime.workstation_id


def test_locking_and_unlocking_the_screen_is_recorded(runtime):
    admin = sign_in_admin(runtime)
    start = last_seq(runtime)
    auth.record_lock(admin, "idle")
    with pytest.raises(InvalidCredentials):
        auth.unlock(admin, "wrong-password-1")
    auth.unlock(admin, ADMIN_PASSWORD)
    locked, failed, unlocked = events_since(runtime, start)
    assert locked.action == "auth.screen_locked"
    assert json.loads(locked.details) == {"reason": "idle"}
    assert failed.action == "auth.sign_in_failed"
    assert unlocked.action == "auth.screen_unlocked"
    assert {e.user_id for e in (locked, failed, unlocked)} == {admin.actor.user_id}
    assert {e.workstation_id for e in (locked, failed, unlocked)} == {runtime.workstation_id}


def test_patient_register_open_update_and_archive_are_recorded_with_details(runtime):
    admin = sign_in_admin(runtime)
    start = last_seq(runtime)
    rec = patients.register(
        admin,
        PatientInput("Ada", "Lovelace", "1915-12-10", insurance=(InsuranceInput("Aetna", "A1"),)),
    )
    patients.open_record(admin, rec.id)
    rec = patients.update(admin, rec.id, rec.version, PatientInput("Ada", "King", "1915-12-10", city="London"))
    patients.set_archived(admin, rec.id, True, "  moved away ")
    patients.set_archived(admin, rec.id, False)
    registered, opened, updated, archived, unarchived = events_since(runtime, start)
    for ev in (registered, opened, updated, archived, unarchived):
        assert ev.patient_id == rec.id
        assert ev.entity_type == "patient" and ev.entity_id == rec.id
        assert ev.user_id == admin.actor.user_id and ev.username == "admin"
        assert ev.workstation_id == runtime.workstation_id
    assert registered.action == "patient.registered"
    after = json.loads(registered.details)["after"]
    assert after["last_name"] == "Lovelace" and after["date_of_birth"] == "1915-12-10"
    assert after["insurance"][0]["carrier"] == "Aetna"
    assert opened.action == "patient.opened"
    assert updated.action == "patient.updated"
    changes = json.loads(updated.details)["changes"]
    assert changes["last_name"] == ["Lovelace", "King"]
    assert changes["city"] == ["", "London"]
    assert "first_name" not in changes
    assert changes["insurance"][0] == "changed"
    assert archived.action == "patient.archived"
    assert json.loads(archived.details) == {"reason": "moved away"}
    assert unarchived.action == "patient.unarchived"


def test_saving_a_patient_without_changes_adds_no_event(runtime):
    admin = sign_in_admin(runtime)
    rec = patients.register(admin, PatientInput("Ada", "Lovelace", "1915-12-10"))
    start = last_seq(runtime)
    patients.update(admin, rec.id, rec.version, PatientInput("Ada", "Lovelace", "1915-12-10"))
    assert events_since(runtime, start) == []


def test_no_password_or_password_hash_appears_anywhere_in_the_audit_trail(runtime):
    admin = sign_in_admin(runtime)
    wrong, new_own, reset = "Wr0ng-guess-7781", "brand-new-admin-pw", "reset-by-admin-77"
    with pytest.raises(InvalidCredentials):
        auth.sign_in(runtime, "admin", wrong)
    staff = users.add_staff(admin, users.NewStaff("dr.who", "Dr Who", Role.DENTIST, STAFF_PASSWORD))
    users.reset_password(admin, staff.id, reset)
    auth.change_own_password(admin, ADMIN_PASSWORD, new_own)
    with pytest.raises(InvalidCredentials):
        auth.change_own_password(admin, wrong, "another-new-pw-1")
    dentist = Ctx(runtime, auth.sign_in(runtime, "dr.who", reset))
    auth.record_lock(dentist, "by hand")
    with pytest.raises(InvalidCredentials):
        auth.unlock(dentist, wrong)
    auth.unlock(dentist, reset)
    with runtime.engine.connect() as conn:
        hashes = [h for (h,) in conn.execute(text("SELECT password_hash FROM staff_user"))]
        rows = conn.execute(text("SELECT * FROM audit_event")).all()
    assert len(rows) == 11
    dump = "\n".join("|".join(str(v) for v in row) for row in rows)
    for secret in (ADMIN_PASSWORD, STAFF_PASSWORD, wrong, new_own, reset, PASSPHRASE, "$argon2", *hashes):
        assert secret not in dump
    assert {"staff.password_reset", "auth.password_changed", "auth.password_change_failed"} <= {
        row.action for row in rows
    }


def _verify(clinic_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CHAIRSIDE_RECOVERY_PASSPHRASE": PASSPHRASE,
        "QT_QPA_PLATFORM": "offscreen",
        # like a headless workstation: no keyring, so the passphrase path is taken
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    return subprocess.run(
        [sys.executable, "-m", "app", "audit", "verify", "--data-dir", str(clinic_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _make_history(runtime) -> None:  # type: ignore[no-untyped-def]
    admin = sign_in_admin(runtime)  # 2
    rec = patients.register(admin, PatientInput("Ada", "Lovelace", "1915-12-10"))  # 3
    patients.open_record(admin, rec.id)  # 4
    auth.sign_out(admin)  # 5


_COLUMNS = "id, occurred_at, workstation_id, user_id, username, action, entity_type, entity_id, patient_id, details"


def _swap(conn, a: int, b: int) -> None:  # type: ignore[no-untyped-def]
    cols = [c.strip() for c in (_COLUMNS + ", prev_hash, hash").split(",")]
    row_a = conn.execute(text(f"SELECT {', '.join(cols)} FROM audit_event WHERE seq = {a}")).one()
    row_b = conn.execute(text(f"SELECT {', '.join(cols)} FROM audit_event WHERE seq = {b}")).one()
    # ids are unique: park one row out of the way first
    conn.execute(text(f"UPDATE audit_event SET id = 'parked' WHERE seq = {a}"))
    for seq, row in ((b, row_a), (a, row_b)):
        sets = ", ".join(f"{c} = :{c}" for c in cols)
        conn.execute(text(f"UPDATE audit_event SET {sets} WHERE seq = {seq}"), dict(zip(cols, row, strict=True)))


TAMPERING = {
    "an edited event's details": (
        lambda conn: conn.execute(text("UPDATE audit_event SET details = '{}' WHERE seq = 3")),
        3,
        "altered",
    ),
    "a deleted middle event": (
        lambda conn: conn.execute(text("DELETE FROM audit_event WHERE seq = 3")),
        3,
        "missing",
    ),
    "two events with their content swapped": (lambda conn: _swap(conn, 2, 3), 2, "does not follow"),
    "a deleted chain head with the newest event": (
        lambda conn: [conn.execute(text(f"DELETE FROM {t}")) for t in ("audit_head", "audit_event WHERE seq = 5")],
        4,
        "chain head",
    ),
    "a deleted newest event": (
        lambda conn: conn.execute(text("DELETE FROM audit_event WHERE seq = 5")),
        5,
        "missing",
    ),
}


def test_audit_verify_reports_an_intact_trail(runtime, clinic_dir):
    _make_history(runtime)
    runtime.close()
    result = _verify(clinic_dir)
    assert result.returncode == 0, result.stderr
    assert "Audit trail intact." in result.stdout


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_audit_verify_finds(runtime, clinic_dir, tampering):
    _make_history(runtime)
    assert last_seq(runtime) == 5
    change, broken_at, reason = TAMPERING[tampering]
    with runtime.engine.begin() as conn:
        change(conn)
    runtime.close()
    result = _verify(clinic_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Audit trail BROKEN at event {broken_at}:" in result.stdout
    assert reason in result.stdout


def test_the_audit_trail_is_filtered_by_patient_user_and_date(staff, runtime):
    admin, dentist, reception = staff[Role.ADMINISTRATOR], staff[Role.DENTIST], staff[Role.RECEPTIONIST]
    ada = patients.register(reception, PatientInput("Ada", "Lovelace", "1915-12-10"))
    bob = patients.register(reception, PatientInput("Bob", "Babbage", "1920-01-02"))
    patients.open_record(dentist, ada.id)
    patients.open_record(dentist, bob.id)

    for_ada = audit.list_events(admin, audit.AuditFilter(patient_id=ada.id))
    assert [(r.action, r.username) for r in for_ada] == [
        ("patient.opened", "dentist"),
        ("patient.registered", "receptionist"),
    ]
    assert {r.patient_name for r in for_ada} == {"Lovelace, Ada"}

    by_dentist = audit.list_events(admin, audit.AuditFilter(user_id=dentist.actor.user_id))
    assert [(r.action, r.patient_id) for r in by_dentist] == [
        ("patient.opened", bob.id),
        ("patient.opened", ada.id),
        ("auth.sign_in", None),
    ]

    day = for_ada[0].occurred_at.date()
    same_day = audit.list_events(admin, audit.AuditFilter(date_from=day, date_to=day))
    assert {"clinic.created", "patient.registered", "patient.opened", "audit.view"} <= {r.action for r in same_day}
    assert audit.list_events(admin, audit.AuditFilter(date_from=day + timedelta(days=1))) == []
    assert audit.list_events(admin, audit.AuditFilter(date_to=day - timedelta(days=1))) == []
    limited = audit.list_events(admin, audit.AuditFilter(limit=2))
    assert len(limited) == 2 and limited[0].seq > limited[1].seq


def test_reading_the_audit_trail_is_itself_recorded(staff, runtime):
    admin = staff[Role.ADMINISTRATOR]
    audit.list_events(admin, audit.AuditFilter(user_id=admin.actor.user_id))
    last = events(runtime)[-1]
    assert last.action == "audit.view"
    assert json.loads(last.details) == {"user_id": admin.actor.user_id}


def test_the_audit_trail_is_exported_as_csv_with_a_header(staff, runtime, tmp_path):
    admin, reception = staff[Role.ADMINISTRATOR], staff[Role.RECEPTIONIST]
    ada = patients.register(reception, PatientInput("Ada", "Lovelace", "1915-12-10"))
    patients.open_record(reception, ada.id)
    out = tmp_path / "audit.csv"
    count = audit.export_csv(admin, audit.AuditFilter(patient_id=ada.id), out)
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [
        "seq",
        "occurred_at_utc",
        "user",
        "workstation",
        "action",
        "entity_type",
        "entity_id",
        "patient_id",
        "patient",
        "details",
    ]
    body = rows[1:]
    assert count == len(body) == 2
    assert [r[4] for r in body] == ["patient.opened", "patient.registered"]
    assert {r[2] for r in body} == {"receptionist"}
    assert {r[3] for r in body} == {runtime.workstation_id}
    assert {r[8] for r in body} == {"Lovelace, Ada"}
    assert json.loads(body[1][9])["after"]["first_name"] == "Ada"
    assert not list(tmp_path.glob("*.part"))
    assert events(runtime)[-1].action == "audit.export"
