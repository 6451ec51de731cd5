"""The clinic's enrolled workstations: list them, revoke one."""

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from sync.server.api.deps import CurrentDevice, SessionDep
from sync.server.models import Device
from sync.server.services import devices

router = APIRouter(prefix="/v1/devices", tags=["devices"])


class DevicePublic(BaseModel):
    id: str
    name: str
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, device: Device) -> "DevicePublic":
        return cls(
            id=device.id,
            name=device.name,
            created_at=device.created_at,
            last_seen_at=device.last_seen_at,
            revoked_at=device.revoked_at,
        )


@router.get("")
def list_devices(session: SessionDep, device: CurrentDevice) -> list[DevicePublic]:
    """The workstations enrolled in the caller's clinic."""
    return [DevicePublic.of(d) for d in devices.list_devices(session, device.clinic_id)]


@router.post("/{device_id}/revoke", responses={404: {"description": "No such workstation in this clinic"}})
def revoke_device(device_id: str, session: SessionDep, device: CurrentDevice) -> DevicePublic:
    """Revoke a workstation of the caller's clinic: its token stops working at once."""
    return DevicePublic.of(devices.revoke(session, device.clinic_id, device_id))
