"""Each role may do exactly what the practice expects; refusals are audited and change nothing.

The expected permissions are written out here on purpose, not read from app.domain.permissions:
a change to a role's scopes must show up as a failing test and a deliberate edit of this table.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import keyring
import pytest
from sqlalchemy import func, select, text

from app import bootstrap
from app.db.models import AuditEvent, Patient, StaffUser
from app.domain.patients import AlertInput, PatientInput
from app.domain.permissions import Role
from app.services import audit, auth, clinic_settings, patients, users
from app.services.context import Ctx, NotSignedIn, PermissionDenied
from app.services.passwords import verify_password
from app.services.runtime import ClinicRuntime
from tests.conftest import ADMIN_PASSWORD, PASSPHRASE, STAFF_PASSWORD, MemoryKeyring

D, H, R, A = Role.DENTIST, Role.HYGIENIST, Role.RECEPTIONIST, Role.ADMINISTRATOR

# call name -> roles allowed to make it
ALLOWED: dict[str, set[Role]] = {
    "patients.register": {D, H, R, A},
    "patients.update": {D, H, R, A},
    "patients.open_record": {D, H, R, A},
    "patients.search": {D, H, R, A},
    "patients.set_archived": {D, R, A},
    "patients.register with medical alerts": {D, H},
    "patients.update with medical alerts": {D, H},
    "users.list_staff": {A},
    "users.add_staff": {A},
    "users.set_active": {A},
    "users.set_role": {A},
    "users.reset_password": {A},
    "audit.list_events": {A},
    "audit.export_csv": {A},
    "audit.user_choices": {A},
    "clinic_settings.set_security_policy": {A},
}


@dataclass
class Clinic:
    runtime: ClinicRuntime
    ctx: dict[Role, Ctx]
    patient_id: str
    archive_target_id: str
    other_user_id: str
    out_dir: Path


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    # one clinic for the whole table (argon2 costs ~30 ms a password); the keyring is ours too
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    base = tmp_path_factory.mktemp("permissions")
    runtime = bootstrap.create_clinic(
        base / "clinic", clinic_name="Perm Dental", passphrase=PASSPHRASE, admin_password=ADMIN_PASSWORD
    )
    try:
        admin = Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))
        ctx = {A: admin}
        for role in (D, H, R):
            users.add_staff(admin, users.NewStaff(role.value, f"Test {role.label}", role, STAFF_PASSWORD))
            ctx[role] = Ctx(runtime, auth.sign_in(runtime, role.value, STAFF_PASSWORD))
        other = users.add_staff(admin, users.NewStaff("other", "Other Person", R, STAFF_PASSWORD))
        target = patients.register(admin, PatientInput("Tara", "Target", "1980-01-01"))
        archive_target = patients.register(admin, PatientInput("Archie", "Target", "1981-01-01"))
        yield Clinic(runtime, ctx, target.id, archive_target.id, other.id, base / "out")
    finally:
        runtime.close()
        keyring.set_keyring(previous)


def _version(clinic: Clinic, patient_id: str) -> int:
    with clinic.runtime.sessions() as s:
        return s.scalar(select(Patient.version).where(Patient.id == patient_id))


def _target_input(clinic: Clinic, ctx: Ctx, **changes: object) -> PatientInput:
    with clinic.runtime.sessions() as s:
        p = s.get(Patient, clinic.patient_id)
        base = PatientInput(p.first_name, p.last_name, p.date_of_birth.isoformat(), notes=p.notes)
    return replace(base, **changes)


CALLS: dict[str, Callable[[Clinic, Ctx, Role], object]] = {
    "patients.register": lambda c, ctx, role: patients.register(
        ctx, PatientInput("New", f"Patient {role.value}", "1990-02-03")
    ),
    "patients.update": lambda c, ctx, role: patients.update(
        ctx, c.patient_id, _version(c, c.patient_id), _target_input(c, ctx, notes=f"edited by {role.value}")
    ),
    "patients.open_record": lambda c, ctx, role: patients.open_record(ctx, c.patient_id),
    "patients.search": lambda c, ctx, role: patients.search(ctx, "target"),
    "patients.set_archived": lambda c, ctx, role: patients.set_archived(ctx, c.archive_target_id, True, "moved"),
    "patients.register with medical alerts": lambda c, ctx, role: patients.register(
        ctx,
        PatientInput("Alert", f"Patient {role.value}", "1990-02-03", alerts=(AlertInput("allergy", "Latex"),)),
    ),
    "patients.update with medical alerts": lambda c, ctx, role: patients.update(
        ctx,
        c.patient_id,
        _version(c, c.patient_id),
        _target_input(c, ctx, alerts=(AlertInput("allergy", f"Penicillin ({role.value})"),)),
    ),
    "users.list_staff": lambda c, ctx, role: users.list_staff(ctx),
    "users.add_staff": lambda c, ctx, role: users.add_staff(
        ctx, users.NewStaff(f"new-{role.value}", "New Person", Role.HYGIENIST, STAFF_PASSWORD)
    ),
    "users.set_active": lambda c, ctx, role: users.set_active(ctx, c.other_user_id, False),
    "users.set_role": lambda c, ctx, role: users.set_role(ctx, c.other_user_id, Role.DENTIST),
    "users.reset_password": lambda c, ctx, role: users.reset_password(ctx, c.other_user_id, "a-new-password-9"),
    "audit.list_events": lambda c, ctx, role: audit.list_events(ctx, audit.AuditFilter()),
    "audit.export_csv": lambda c, ctx, role: audit.export_csv(
        ctx, audit.AuditFilter(), c.out_dir / f"audit-{role.value}.csv"
    ),
    "audit.user_choices": lambda c, ctx, role: audit.user_choices(ctx),
    "clinic_settings.set_security_policy": lambda c, ctx, role: clinic_settings.set_security_policy(
        ctx, idle_lock_minutes=20, max_failed_logins=5, lockout_minutes=15
    ),
}


def _admin_view(c: Clinic, patient_id: str) -> patients.PatientRecord:
    with c.runtime.sessions() as s:
        return patients._record(s, patients._load(s, patient_id))


def _other_user(c: Clinic) -> StaffUser:
    with c.runtime.sessions() as s:
        return s.get(StaffUser, c.other_user_id)


# what an allowed call visibly did
EFFECTS: dict[str, Callable[[Clinic, Role, object], None]] = {
    "patients.register": lambda c, role, r: _check(_admin_view(c, r.id).data.last_name == f"Patient {role.value}"),
    "patients.update": lambda c, role, r: _check(_admin_view(c, c.patient_id).data.notes == f"edited by {role.value}"),
    "patients.open_record": lambda c, role, r: _check(r.id == c.patient_id and r.data.first_name == "Tara"),
    "patients.search": lambda c, role, r: _check({p.first_name for p in r} >= {"Tara"}),
    "patients.set_archived": lambda c, role, r: _check(_admin_view(c, c.archive_target_id).archived_at is not None),
    "patients.register with medical alerts": lambda c, role, r: _check(
        [a.description for a in _admin_view(c, r.id).data.alerts] == ["Latex"]
    ),
    "patients.update with medical alerts": lambda c, role, r: _check(
        [a.description for a in _admin_view(c, c.patient_id).data.alerts] == [f"Penicillin ({role.value})"]
    ),
    "users.list_staff": lambda c, role, r: _check(
        {u.username for u in r} >= {"admin", "dentist", "hygienist", "receptionist", "other"}
    ),
    "users.add_staff": lambda c, role, r: _check(r.username == f"new-{role.value}" and r.active),
    "users.set_active": lambda c, role, r: _check(not _other_user(c).active),
    "users.set_role": lambda c, role, r: _check(_other_user(c).role == "dentist"),
    "users.reset_password": lambda c, role, r: _check(
        verify_password(_other_user(c).password_hash, "a-new-password-9")
    ),
    "audit.list_events": lambda c, role, r: _check(any(e.action == "clinic.created" for e in r)),
    "audit.export_csv": lambda c, role, r: _check(
        r > 0 and (c.out_dir / f"audit-{role.value}.csv").read_text().startswith("seq,")
    ),
    "audit.user_choices": lambda c, role, r: _check(c.other_user_id in {uid for uid, _ in r}),
    "clinic_settings.set_security_policy": lambda c, role, r: _check(c.runtime.policy.idle_lock_minutes == 20),
}


def _check(ok: bool) -> None:
    assert ok


TABLES = (
    "patient",
    "patient_insurance",
    "medical_alert",
    "staff_user",
    "clinic",
    "change_log",
    "local_setting",
)


def _snapshot(runtime: ClinicRuntime) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but the audit trail, to show a refusal changed nothing."""
    with runtime.engine.connect() as conn:
        return {t: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t}")).all()), key=repr) for t in TABLES}


def _audit_count(runtime: ClinicRuntime) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent))


def _last_event(runtime: ClinicRuntime) -> AuditEvent:
    with runtime.sessions() as s:
        return s.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))


def test_the_table_names_every_guarded_call():
    assert set(ALLOWED) == set(CALLS) == set(EFFECTS)


CASES = [(role, name) for name in ALLOWED for role in (D, H, R, A)]


@pytest.mark.parametrize(
    ("role", "call"),
    CASES,
    ids=[f"{role.value}-{'may' if role in ALLOWED[call] else 'may not'}-{call}" for role, call in CASES],
)
def test_each_role_may_make_only_the_calls_the_table_allows(clinic: Clinic, role: Role, call: str):
    ctx = clinic.ctx[role]
    clinic.out_dir.mkdir(exist_ok=True)
    if role in ALLOWED[call]:
        result = CALLS[call](clinic, ctx, role)
        EFFECTS[call](clinic, role, result)
        return
    before_rows = _snapshot(clinic.runtime)
    before_events = _audit_count(clinic.runtime)
    with pytest.raises(PermissionDenied) as e:
        CALLS[call](clinic, ctx, role)
    assert f"Your role ({role.label}) does not allow this" in str(e.value)
    assert _snapshot(clinic.runtime) == before_rows
    assert _audit_count(clinic.runtime) == before_events + 1
    event = _last_event(clinic.runtime)
    assert event.action == "permission.denied"
    assert event.user_id == ctx.actor.user_id
    assert event.username == ctx.actor.username
    assert event.workstation_id == clinic.runtime.workstation_id
    assert not (clinic.out_dir / f"audit-{role.value}.csv").exists()


def test_a_caller_who_is_not_signed_in_is_refused(clinic: Clinic):
    anonymous = Ctx(clinic.runtime, None)
    with pytest.raises(NotSignedIn):
        patients.search(anonymous, "target")
    with pytest.raises(NotSignedIn):
        users.list_staff(anonymous)
