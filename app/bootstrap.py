"""The composition root: makes or opens a clinic and wires the services to it."""

import shutil
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from app.config import Paths, env_int, workstation_name
from app.db import keys, migrate
from app.db.engine import open_engine
from app.db.models import Clinic, LocalSetting, StaffUser
from app.db.types import utcnow
from app.domain.errors import UserError
from app.domain.ids import new_id
from app.domain.permissions import Role
from app.services import catalogue, clinical_notes
from app.services.context import Ctx
from app.services.passwords import hash_password
from app.services.runtime import ClinicInfo, ClinicRuntime, SecurityPolicy

PassphraseProvider = Callable[[], str | None]


class ClinicExists(UserError):
    pass


class PassphraseNeeded(UserError):
    pass


def create_clinic(
    data_dir: Path,
    *,
    clinic_name: str,
    passphrase: str,
    admin_password: str,
    admin_username: str = "admin",
    phone_region: str = "US",
    date_order: str = "MDY",
    time_zone: str = "America/New_York",
) -> ClinicRuntime:
    """Make a new encrypted clinic with its first administrator, and open it."""
    paths = Paths(data_dir)
    if paths.db.exists() or paths.key_file.exists():
        raise ClinicExists(f"There is already a clinic in {data_dir}.")
    keys.check_passphrase_strength(passphrase)
    if len(admin_password) < SecurityPolicy().min_password_length:
        raise UserError(f"The administrator password needs at least {SecurityPolicy().min_password_length} characters.")
    data_dir.mkdir(parents=True, exist_ok=True)
    clinic_id = new_id()
    key = keys.create_key()
    keys.write_key_file(paths.key_file, keys.wrap_key(key, passphrase, clinic_id))
    keys.keyring_store(clinic_id, key)
    engine = open_engine(paths.db, key, create=True)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(LocalSetting),
            [{"key": "clinic_id", "value": clinic_id}, {"key": "workstation_id", "value": new_id()}],
        )
    runtime = _runtime(data_dir, engine, key)
    with Ctx(runtime, None).uow() as uow:
        uow.session.add(
            Clinic(
                id=clinic_id,
                name=clinic_name,
                phone_region=phone_region,
                date_order=date_order,
                time_zone=time_zone,
            )
        )
        admin = StaffUser(
            username=admin_username,
            display_name="Practice Administrator",
            role=Role.ADMINISTRATOR.value,
            password_hash=hash_password(admin_password),
            active=True,
            failed_logins=0,
            licence_no="",
            provider_colour="",
            password_changed_at=utcnow(),
        )
        uow.session.add(admin)
        uow.session.flush()
        _ensure_reference_data(uow.session)
        uow.audit(
            "clinic.created",
            entity_type="clinic",
            entity_id=clinic_id,
            details={"name": clinic_name, "first_administrator": admin_username},
        )
        uow.commit()
    _load_clinic(runtime)
    return runtime


def join_clinic(
    data_dir: Path,
    *,
    url: str,
    code: str,
    passphrase: str,
    ca_bundle: str | None = None,
    progress: "Callable[[str, int], None] | None" = None,
) -> ClinicRuntime:
    """A new, empty workstation joins a clinic in the cloud and pulls all of it.

    The database gets this workstation's own key, wrapped by the recovery passphrase once
    the clinic (and so the key file's clinic id) has arrived. Until the key file exists the
    folder holds no usable clinic, so an interrupted join simply starts again.
    """
    from app.services import cloud, sync

    paths = Paths(data_dir)
    if paths.key_file.exists():
        raise ClinicExists(f"There is already a clinic in {data_dir}; join into an empty folder.")
    keys.check_passphrase_strength(passphrase)
    for leftover in (paths.db, paths.db.with_name(paths.db.name + "-wal"), paths.db.with_name(paths.db.name + "-shm")):
        leftover.unlink(missing_ok=True)  # an earlier join that stopped half way
    data_dir.mkdir(parents=True, exist_ok=True)
    key = keys.create_key()
    engine = open_engine(paths.db, key, create=True)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(insert(LocalSetting), [{"key": "workstation_id", "value": new_id()}])
        runtime = _runtime(data_dir, engine, key)
        cloud.enrol(runtime, url, code, ca_bundle=ca_bundle)
        sync.run_once(runtime, progress=progress)
        with runtime.sessions() as s:
            clinic_id = s.scalar(select(Clinic.id).where(Clinic.deleted_at.is_(None)).limit(1))
        if clinic_id is None:
            raise UserError("The cloud holds no clinic yet: enrol the clinic's first workstation before joining.")
        with engine.begin() as conn:
            conn.execute(insert(LocalSetting), [{"key": "clinic_id", "value": clinic_id}])
        with Ctx(runtime, None).uow() as uow:
            _ensure_reference_data(uow.session)
            uow.audit("workstation.joined", entity_type="clinic", entity_id=clinic_id, details={"cloud": url})
            uow.commit()
        _load_clinic(runtime)
    except BaseException:
        engine.dispose()
        raise
    keys.write_key_file(paths.key_file, keys.wrap_key(key, passphrase, clinic_id))
    keys.keyring_store(clinic_id, key)
    return runtime


def unlock_key(data_dir: Path, passphrase_provider: PassphraseProvider) -> bytes:
    """The database key: from the keyring if it has it, else from the recovery passphrase."""
    paths = Paths(data_dir)
    if not paths.db.exists():
        raise UserError(
            f"There is no clinic in {data_dir}. Create one with "
            f"'chairside init --data-dir {data_dir}' or restore a backup there."
        )
    kf = keys.read_key_file(paths.key_file)
    key = keys.keyring_load(kf.clinic_id)
    if key is not None:
        return key
    passphrase = passphrase_provider()
    if not passphrase:
        raise PassphraseNeeded(
            "This workstation's keyring does not hold the clinic key: the recovery passphrase "
            "is needed (--passphrase-file or CHAIRSIDE_RECOVERY_PASSPHRASE)."
        )
    key = keys.unwrap_key(kf, passphrase)
    keys.keyring_store(kf.clinic_id, key)  # next time the keyring answers, if there is one
    return key


def open_clinic(data_dir: Path, passphrase_provider: PassphraseProvider) -> ClinicRuntime:
    """Open an existing clinic, upgrading an older schema after a safety copy."""
    paths = Paths(data_dir)
    key = unlock_key(data_dir, passphrase_provider)
    engine = open_engine(paths.db, key)
    try:
        current = migrate.current_revision(engine)
        known = migrate.known_revisions()
        if current != known[-1]:
            if current in known:
                _safety_copy(engine, paths.db, current)
            migrate.upgrade(engine)  # refuses a newer schema without writing
        runtime = _runtime(data_dir, engine, key)
        if current != known[-1]:
            with Ctx(runtime, None).uow() as uow:
                _ensure_reference_data(uow.session)
                uow.commit()
        _load_clinic(runtime)
    except BaseException:
        engine.dispose()
        raise
    return runtime


def _ensure_reference_data(session: Session) -> None:
    """The shipped procedure catalogue and note templates, with ids every workstation shares."""
    catalogue.ensure_shipped(session)
    clinical_notes.ensure_shipped_templates(session)


def _safety_copy(engine, db: Path, revision: str | None) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    shutil.copy2(db, db.with_name(f"{db.name}.before-upgrade-from-{revision}"))


def _runtime(data_dir: Path, engine, key: bytes) -> ClinicRuntime:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        settings = dict(conn.execute(select(LocalSetting.key, LocalSetting.value)).all())
    if "workstation_id" not in settings:
        # e.g. creating the clinic was interrupted: a clear message, not a KeyError
        raise UserError("This database holds no clinic settings; it may be damaged or was never finished.")
    placeholder = ClinicInfo(settings.get("clinic_id", ""), "", "US", "MDY", "UTC")
    return ClinicRuntime(
        data_dir=data_dir,
        engine=engine,
        workstation_id=settings["workstation_id"],
        workstation_name=workstation_name(),
        info=placeholder,
        db_key=key,
    )


def _load_clinic(runtime: ClinicRuntime) -> None:
    """Read the clinic's details and security policy (environment variables override it)."""
    with runtime.sessions() as s:
        c = s.scalar(select(Clinic).where(Clinic.deleted_at.is_(None)).limit(1))
        if c is None:
            raise UserError("This database holds no clinic; it may be damaged.")
        runtime.info = ClinicInfo(
            c.id, c.name, c.phone_region, c.date_order, c.time_zone, c.tooth_numbering, c.probing_path
        )
        runtime.policy = SecurityPolicy(
            max_failed_logins=env_int("CHAIRSIDE_MAX_FAILED_LOGINS", c.max_failed_logins),
            lockout_minutes=env_int("CHAIRSIDE_LOCKOUT_MINUTES", c.lockout_minutes),
            idle_lock_minutes=env_int("CHAIRSIDE_IDLE_LOCK_MINUTES", c.idle_lock_minutes),
        )
