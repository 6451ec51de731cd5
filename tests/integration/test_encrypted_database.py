"""The clinic database on disk: encrypted, refused clearly when it cannot be opened, upgraded safely."""

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
import sqlcipher3
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from app import bootstrap
from app.config import Paths
from app.db import keys, migrate
from app.db.engine import NotAClinicDatabase, build_engine, open_engine
from app.db.keys import KeyFileDamaged, KeyFileMissing, WrongPassphrase
from app.db.migrate import NewerSchema
from app.db.models import Base
from app.domain.errors import UserError
from app.domain.patients import PatientInput
from app.services import auth, patients
from app.services.context import Ctx
from tests.conftest import ADMIN_PASSWORD, PASSPHRASE

DISTINCTIVE = "Quetzalcoatlina"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def never_asked() -> str:
    raise AssertionError("the passphrase was asked for although the keyring holds the key")


def register_distinctive(runtime) -> None:  # type: ignore[no-untyped-def]
    admin = Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))
    patients.register(admin, PatientInput(first_name=DISTINCTIVE, last_name="Xylophonidae", date_of_birth="1970-01-01"))


def test_the_database_file_has_no_sqlite_header_and_no_patient_names(runtime, clinic_dir):
    register_distinctive(runtime)
    db, wal = Paths(clinic_dir).db, Path(str(Paths(clinic_dir).db) + "-wal")
    # while open, recent pages sit in the write-ahead log: it must be encrypted too
    assert wal.exists()
    for path in (db, wal):
        raw = path.read_bytes()
        assert DISTINCTIVE.encode() not in raw
        assert DISTINCTIVE.encode("utf-16-le") not in raw
        assert b"Xylophonidae" not in raw
    assert not db.read_bytes().startswith(b"SQLite format 3")
    runtime.close()
    raw = db.read_bytes()
    assert len(raw) > 4096
    assert not raw.startswith(b"SQLite format 3")
    assert DISTINCTIVE.encode() not in raw
    if wal.exists():
        assert DISTINCTIVE.encode() not in wal.read_bytes()


def test_the_database_cannot_be_read_without_the_key(runtime, clinic_dir):
    register_distinctive(runtime)
    runtime.close()
    with sqlite3.connect(Paths(clinic_dir).db) as conn, pytest.raises(sqlite3.DatabaseError) as e:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    assert "file is not a database" in str(e.value)


def test_an_engine_from_build_engine_writes_an_encrypted_file(tmp_path):
    path = tmp_path / "plain-check.db"
    engine = build_engine(path, keys.create_key())
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (name TEXT)"))
        conn.execute(text("INSERT INTO t VALUES ('Quetzalcoatlina')"))
    engine.dispose()
    assert not path.read_bytes().startswith(b"SQLite format 3")
    with sqlite3.connect(path) as conn, pytest.raises(sqlite3.DatabaseError, match="file is not a database"):
        conn.execute("SELECT * FROM t").fetchall()


def test_a_wrong_recovery_passphrase_is_refused_and_the_file_is_untouched(runtime, clinic_dir, memory_keyring):
    runtime.close()
    memory_keyring.store.clear()
    before = sha256(Paths(clinic_dir).db)
    with pytest.raises(WrongPassphrase, match="not this clinic's"):
        bootstrap.open_clinic(clinic_dir, lambda: "incorrect horse battery staple")
    assert sha256(Paths(clinic_dir).db) == before
    assert memory_keyring.store == {}


def test_no_passphrase_and_no_keyring_entry_asks_for_the_passphrase(runtime, clinic_dir, memory_keyring):
    runtime.close()
    memory_keyring.store.clear()
    with pytest.raises(bootstrap.PassphraseNeeded, match="recovery passphrase"):
        bootstrap.open_clinic(clinic_dir, lambda: None)


def test_a_missing_key_file_is_named_as_the_problem(runtime, clinic_dir):
    runtime.close()
    Paths(clinic_dir).key_file.unlink()
    with pytest.raises(KeyFileMissing, match="clinic.key is missing"):
        bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"not json at all",
        b'{"format": "something-else/9"}',
        b'{"format": "chairside-key/1", "clinic_id": "x"}',
        b'{"format": "chairside-key/1", "clinic_id": "x", "kdf": {"time_cost": "two"}}',
    ],
)
def test_a_damaged_key_file_is_named_as_the_problem(runtime, clinic_dir, damage):
    runtime.close()
    Paths(clinic_dir).key_file.write_bytes(damage)
    with pytest.raises(KeyFileDamaged, match="damaged or not a Chairside key file"):
        bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)


def test_a_truncated_wrapped_key_is_refused_as_a_wrong_passphrase_not_a_crash(runtime, clinic_dir, memory_keyring):
    runtime.close()
    memory_keyring.store.clear()
    kf = keys.read_key_file(Paths(clinic_dir).key_file)
    keys.write_key_file(Paths(clinic_dir).key_file, keys.KeyFile(kf.clinic_id, kf.salt, kf.nonce, b"x" * 20, kf.kdf))
    with pytest.raises(WrongPassphrase):
        bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)


def _make_plain_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE patient (name TEXT)")
        conn.execute("INSERT INTO patient VALUES ('someone')")
    conn.close()


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        ("plain", "unencrypted SQLite file"),
        ("random", "could not be decrypted"),
        ("empty", "is empty"),
    ],
)
def test_something_else_in_place_of_the_database_is_refused_and_left_unchanged(
    runtime, clinic_dir, replacement, message
):
    runtime.close()
    db = Paths(clinic_dir).db
    db.unlink()
    if replacement == "plain":
        _make_plain_sqlite(db)
    elif replacement == "random":
        db.write_bytes(os.urandom(8192))
    else:
        db.write_bytes(b"")
    before = sha256(db)
    with pytest.raises(NotAClinicDatabase, match=message):
        bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)
    assert sha256(db) == before
    assert not Path(str(db) + "-wal").exists() or Path(str(db) + "-wal").stat().st_size == 0


def test_another_clinics_database_is_refused(runtime, clinic_dir, tmp_path):
    runtime.close()
    other = bootstrap.create_clinic(
        tmp_path / "other", clinic_name="Other", passphrase=PASSPHRASE, admin_password=ADMIN_PASSWORD
    )
    other.close()
    Paths(clinic_dir).db.write_bytes(Paths(tmp_path / "other").db.read_bytes())
    before = sha256(Paths(clinic_dir).db)
    with pytest.raises(NotAClinicDatabase, match="belongs to another clinic"):
        bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)
    assert sha256(Paths(clinic_dir).db) == before


def test_the_key_comes_from_the_keyring_without_asking_for_the_passphrase(runtime, clinic_dir):
    clinic_id = runtime.info.clinic_id
    runtime.close()
    reopened = bootstrap.open_clinic(clinic_dir, never_asked)
    try:
        assert reopened.info.clinic_id == clinic_id
        assert reopened.info.name == "Test Dental"
    finally:
        reopened.close()


def test_without_a_keyring_entry_the_passphrase_opens_it_and_the_key_is_kept(runtime, clinic_dir, memory_keyring):
    clinic_id = runtime.info.clinic_id
    runtime.close()
    memory_keyring.store.clear()
    asked = []

    def provider() -> str:
        asked.append(True)
        return PASSPHRASE

    bootstrap.open_clinic(clinic_dir, provider).close()
    assert asked == [True]
    assert (keys.KEYRING_SERVICE, clinic_id) in memory_keyring.store
    assert len(bytes.fromhex(memory_keyring.store[(keys.KEYRING_SERVICE, clinic_id)])) == 32
    # the next opening needs no passphrase
    bootstrap.open_clinic(clinic_dir, never_asked).close()


def test_a_database_from_a_newer_version_is_refused_and_left_byte_identical(runtime, clinic_dir):
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    runtime.close()
    db = Paths(clinic_dir).db
    before = sha256(db)
    with pytest.raises(NewerSchema) as e:
        bootstrap.open_clinic(clinic_dir, never_asked)
    assert "newer version of Chairside" in str(e.value)
    assert "9999" in str(e.value)
    assert "not changed" in str(e.value)
    assert sha256(db) == before
    assert not list(clinic_dir.glob("*.before-upgrade-*"))


def _build_at_0001(clinic_dir: Path) -> tuple[str, bytes]:
    paths = Paths(clinic_dir)
    clinic_dir.mkdir(parents=True)
    key = keys.create_key()
    clinic_id = "0190a000-0000-7000-8000-000000000001"
    keys.write_key_file(paths.key_file, keys.wrap_key(key, PASSPHRASE, clinic_id))
    engine = open_engine(paths.db, key, create=True)
    migrate.upgrade(engine, "0001")
    stamp = "2023-01-02T03:04:05.000000Z"
    sync = {"created_at": stamp, "updated_at": stamp, "version": 1}
    from app.services.passwords import hash_password

    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO clinic (id, created_at, updated_at, version, name, phone_region, date_order,"
                " time_zone) VALUES (:id, :created_at, :updated_at, :version, 'Old Dental', 'US', 'MDY',"
                " 'America/New_York')"
            ),
            {"id": clinic_id, **sync},
        )
        conn.execute(
            text(
                "INSERT INTO staff_user (id, created_at, updated_at, version, username, display_name, role,"
                " password_hash, active, failed_logins, licence_no, provider_colour) VALUES (:id,"
                " :created_at, :updated_at, :version, 'admin', 'Old Admin', 'administrator', :hash, 1, 0,"
                " '', '')"
            ),
            {"id": "0190a000-0000-7000-8000-000000000002", "hash": hash_password(ADMIN_PASSWORD), **sync},
        )
        conn.execute(
            text(
                "INSERT INTO patient (id, created_at, updated_at, version, chart_no, first_name, last_name,"
                " preferred_name, middle_name, date_of_birth, sex, gender_identity, mobile_phone,"
                " home_phone, work_phone, email, address_line1, address_line2, city, region, postal_code,"
                " country, preferred_contact, consent_sms, consent_email, notes) VALUES (:id, :created_at,"
                " :updated_at, :version, '1001', 'Old', 'Timer', '', '', '1950-05-06', 'unknown', '', '',"
                " '', '', '', '', '', '', '', '', '', 'phone', 0, 0, 'from 0001')"
            ),
            {"id": "0190a000-0000-7000-8000-000000000003", **sync},
        )
        conn.execute(
            text("INSERT INTO local_setting (key, value) VALUES ('clinic_id', :c), ('workstation_id', :w)"),
            {"c": clinic_id, "w": "0190a000-0000-7000-8000-000000000004"},
        )
    engine.dispose()
    return clinic_id, key


def test_an_older_database_is_upgraded_with_all_its_rows_and_a_safety_copy(clinic_dir):
    clinic_id, key = _build_at_0001(clinic_dir)
    runtime = bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)
    try:
        assert migrate.current_revision(runtime.engine) == migrate.known_revisions()[-1]
        assert runtime.info.clinic_id == clinic_id
        assert runtime.info.name == "Old Dental"
        assert runtime.workstation_id == "0190a000-0000-7000-8000-000000000004"
        with runtime.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            assert {"patient_insurance", "medical_alert"} <= tables
            assert conn.execute(text("SELECT count(*) FROM clinic")).scalar() == 1
            assert conn.execute(text("SELECT notes FROM patient WHERE chart_no = '1001'")).scalar() == "from 0001"
        # the old administrator signs in and the old patient opens through the services
        admin = Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))
        assert admin.actor is not None and admin.actor.display_name == "Old Admin"
        found = patients.search(admin, "timer")
        assert [p.chart_no for p in found] == ["1001"]
        record = patients.open_record(admin, found[0].id)
        assert record.data.notes == "from 0001"
        assert record.data.insurance == () and record.data.alerts == ()
    finally:
        runtime.close()
    safety = clinic_dir / "clinic.db.before-upgrade-from-0001"
    assert safety.exists()
    # the safety copy is still the old, encrypted database
    assert not safety.read_bytes().startswith(b"SQLite format 3")
    old = open_engine(safety, key)
    try:
        assert migrate.current_revision(old) == "0001"
        with old.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM patient")).scalar() == 1
    finally:
        old.dispose()


def test_a_clinic_whose_creation_was_interrupted_gets_a_clear_message(clinic_dir):
    clinic_dir.mkdir(parents=True)
    key = keys.create_key()
    keys.write_key_file(Paths(clinic_dir).key_file, keys.wrap_key(key, PASSPHRASE, "half-made"))
    engine = open_engine(Paths(clinic_dir).db, key, create=True)
    migrate.upgrade(engine)
    engine.dispose()
    with pytest.raises(UserError, match="may be damaged or was never finished"):
        bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)


def test_a_database_at_the_newest_schema_is_opened_without_a_safety_copy(runtime, clinic_dir):
    runtime.close()
    bootstrap.open_clinic(clinic_dir, never_asked).close()
    assert not list(clinic_dir.glob("*.before-upgrade-*"))


def test_the_newest_known_revision_is_alembics_head():
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    script = ScriptDirectory.from_config(cfg)
    assert migrate.known_revisions()[-1] == script.get_current_head()
    assert migrate.known_revisions() == sorted(rev.revision for rev in script.walk_revisions())


def test_the_migrated_schema_matches_the_models(runtime):
    with runtime.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_the_exported_key_opens_the_database_with_sqlcipher_directly(runtime, clinic_dir, memory_keyring):
    register_distinctive(runtime)
    runtime.close()
    key = keys.unwrap_key(keys.read_key_file(Paths(clinic_dir).key_file), PASSPHRASE)
    conn = sqlcipher3.connect(str(Paths(clinic_dir).db))
    try:
        conn.execute(f'PRAGMA key = "{keys.sqlcipher_key_literal(key)}"')
        assert conn.execute("SELECT first_name FROM patient").fetchall() == [(DISTINCTIVE,)]
    finally:
        conn.close()
