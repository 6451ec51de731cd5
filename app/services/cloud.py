"""This workstation's cloud connection: URL, CA bundle, device token; enrolment and revocation.

The URL and ids live in `local_setting` (never synced). The device token lives in the OS
keyring; with no keyring (headless Linux) it is kept in `local_setting` instead, which is
inside the encrypted database, so it is never on disk in the clear.
"""

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import keyring
from keyring.errors import KeyringError
from sqlalchemy import delete, select
from sqlalchemy.dialects.sqlite import insert

from app.db.models import LocalSetting
from app.domain.errors import UserError
from app.services.runtime import ClinicRuntime
from sync.client import CloudClient, CloudError
from sync.protocol import EnrolResponse

log = logging.getLogger(__name__)

KEYRING_SERVICE = "chairside-cloud"
URL, CA_BUNDLE, DEVICE_ID, CLOUD_CLINIC, TOKEN = (
    "cloud.url",
    "cloud.ca_bundle",
    "cloud.device_id",
    "cloud.clinic_id",
    "cloud.token",
)


class NotEnrolled(UserError):
    pass


@dataclass(frozen=True)
class CloudConfig:
    url: str
    device_id: str
    cloud_clinic_id: str
    ca_bundle: str | None
    token: str


def read_settings(runtime: ClinicRuntime, *keys: str) -> dict[str, str]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(LocalSetting.key, LocalSetting.value).where(LocalSetting.key.in_(keys)))
        return dict(rows.all())  # type: ignore[arg-type]


def write_settings(runtime: ClinicRuntime, values: dict[str, str | None]) -> None:
    """Set (or, for None, remove) workstation-only settings in one transaction."""
    with runtime.engine.begin() as conn:
        for key, value in values.items():
            if value is None:
                conn.execute(delete(LocalSetting).where(LocalSetting.key == key))
            else:
                stmt = insert(LocalSetting).values(key=key, value=value)
                conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


def _store_token(runtime: ClinicRuntime, token: str) -> str | None:
    """Keyring first; else the encrypted database. Returns what to keep in local_setting."""
    try:
        keyring.set_password(KEYRING_SERVICE, runtime.workstation_id, token)
    except KeyringError as exc:
        log.info("no usable keyring for the device token (%s); kept in the encrypted database", type(exc).__name__)
        return token
    return None


def _load_token(runtime: ClinicRuntime, stored: str | None) -> str | None:
    if stored:
        return stored
    try:
        return keyring.get_password(KEYRING_SERVICE, runtime.workstation_id)
    except KeyringError:
        return None


def load(runtime: ClinicRuntime) -> CloudConfig | None:
    """The connection, or None if this workstation was never enrolled."""
    s = read_settings(runtime, URL, CA_BUNDLE, DEVICE_ID, CLOUD_CLINIC, TOKEN)
    if URL not in s:
        return None
    token = _load_token(runtime, s.get(TOKEN))
    if not token:
        raise NotEnrolled(
            "This workstation's cloud token is missing from the keyring; enrol it again "
            "(Admin → Cloud, or 'chairside cloud enrol')."
        )
    return CloudConfig(s[URL], s[DEVICE_ID], s[CLOUD_CLINIC], s.get(CA_BUNDLE) or None, token)


def require(runtime: ClinicRuntime) -> CloudConfig:
    config = load(runtime)
    if config is None:
        raise NotEnrolled(
            "This workstation is not connected to a cloud service; enrol it first "
            "(Admin → Cloud, or 'chairside cloud enrol --url URL --code CODE')."
        )
    return config


def client(config: CloudConfig) -> CloudClient:
    try:
        return CloudClient(config.url, config.token, ca_bundle=config.ca_bundle)
    except CloudError as exc:
        raise UserError(exc.message) from None


def checked_address(url: str, ca_bundle: str | None) -> str:
    """The cloud URL without trailing slash, if it and the CA bundle look usable."""
    url = url.strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise UserError("The cloud address must start with https:// (or http:// on a local network).")
    if ca_bundle and not Path(ca_bundle).expanduser().is_file():
        raise UserError(f"The CA bundle {ca_bundle} does not exist.")
    return url


def enrol(runtime: ClinicRuntime, url: str, code: str, *, ca_bundle: str | None = None) -> CloudConfig:
    """Trade a one-time code for this workstation's device token and remember the connection."""
    url = checked_address(url, ca_bundle)
    try:
        with CloudClient(url, ca_bundle=ca_bundle) as api:
            answer = api.enrol(code, runtime.workstation_name)
    except CloudError as exc:
        raise UserError(exc.message) from None
    return remember(runtime, url, ca_bundle, answer)


def remember(runtime: ClinicRuntime, url: str, ca_bundle: str | None, answer: EnrolResponse) -> CloudConfig:
    """Keep an enrolment's connection in this clinic (e.g. one made to restore it on a new machine)."""
    kept = _store_token(runtime, answer.token)
    write_settings(
        runtime,
        {
            URL: url,
            CA_BUNDLE: ca_bundle or None,
            DEVICE_ID: answer.device_id,
            CLOUD_CLINIC: answer.clinic_id,
            TOKEN: kept,
        },
    )
    return CloudConfig(url, answer.device_id, answer.clinic_id, ca_bundle or None, answer.token)


def set_ca_bundle(runtime: ClinicRuntime, ca_bundle: str | None) -> None:
    if ca_bundle and not Path(ca_bundle).expanduser().is_file():
        raise UserError(f"The CA bundle {ca_bundle} does not exist.")
    write_settings(runtime, {CA_BUNDLE: ca_bundle or None})


def forget(runtime: ClinicRuntime) -> None:
    """Disconnect this workstation from the cloud (its local data stays)."""
    with contextlib.suppress(KeyringError):  # nothing kept there, or no keyring at all
        keyring.delete_password(KEYRING_SERVICE, runtime.workstation_id)
    # the cloud clinic id stays: enrolling again into the same clinic is a reconnection, not a merge
    write_settings(runtime, dict.fromkeys((URL, CA_BUNDLE, DEVICE_ID, TOKEN)))
