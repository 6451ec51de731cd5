"""Typed dependencies shared by the routes: settings, a session, the calling workstation."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from sync.protocol import SCHEMA_HEADER, SCHEMA_VERSION
from sync.server.config import Settings
from sync.server.models import Device
from sync.server.services import devices
from sync.server.services.sync import ClinicSync


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    # uncommitted work is rolled back when the request ends: services commit explicitly
    with request.app.state.sessionmaker() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="The device token a workstation got at enrolment.")


def current_device(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Device:
    """The enrolled workstation behind `Authorization: Bearer <token>`; 401 otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(
            status_code=401,
            detail="This request carries no workstation token; enrol the workstation first.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return devices.authenticate(session, credentials.credentials)
    except (devices.NotEnrolled, devices.DeviceRevoked) as refused:
        raise HTTPException(status_code=401, detail=refused.message, headers={"WWW-Authenticate": "Bearer"}) from None


CurrentDevice = Annotated[Device, Depends(current_device)]


def client_schema(x_chairside_schema: Annotated[str | None, Header(alias=SCHEMA_HEADER)] = None) -> str:
    """The client's database schema; anything but ours is refused with 426 before any work."""
    if x_chairside_schema == SCHEMA_VERSION:
        return x_chairside_schema
    if x_chairside_schema is not None and x_chairside_schema > SCHEMA_VERSION:
        detail = (
            f"This workstation runs a newer Chairside (schema {x_chairside_schema}) than the cloud service "
            f"knows ({SCHEMA_VERSION}); ask your administrator to update the cloud service. Nothing was synced."
        )
    else:
        detail = (
            f"Please upgrade Chairside on this workstation: the cloud service needs schema {SCHEMA_VERSION}, "
            f"this workstation has {x_chairside_schema or 'an unknown one'}. Nothing was synced; "
            "your local changes are kept and will sync after the upgrade."
        )
    raise HTTPException(status_code=426, detail=detail, headers={"Upgrade": f"Chairside-Schema/{SCHEMA_VERSION}"})


ClientSchema = Annotated[str, Depends(client_schema)]


def clinic_sync(session: SessionDep, device: CurrentDevice, settings: SettingsDep, _schema: ClientSchema) -> ClinicSync:
    return ClinicSync(session, device.clinic_id, device.id, max_page_rows=settings.pull_page_rows)


ClinicSyncDep = Annotated[ClinicSync, Depends(clinic_sync)]
