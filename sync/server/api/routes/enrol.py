"""Enrolment: a workstation trades a one-time code for its device token."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from sync.protocol import EnrolRequest, EnrolResponse
from sync.server.api.deps import SessionDep
from sync.server.services import devices

router = APIRouter(prefix="/v1", tags=["enrolment"])


def enrol_rate_limit(request: Request) -> None:
    """At most ENROL_RATE_PER_MINUTE attempts per client address, successful or not."""
    address = request.client.host if request.client else "unknown"
    wait = request.app.state.enrol_limiter.allow(address)
    if wait is not None:
        raise HTTPException(
            status_code=429,
            detail="Too many enrolment attempts from this address; wait a minute and try again.",
            headers={"Retry-After": str(max(1, round(wait)))},
        )


@router.post(
    "/enrol",
    responses={403: {"description": "The code is wrong, used or expired"}, 429: {"description": "Too many attempts"}},
)
def enrol(
    body: EnrolRequest, session: SessionDep, _limited: Annotated[None, Depends(enrol_rate_limit)]
) -> EnrolResponse:
    """Trade a one-time enrolment code for a device token (shown once; the server keeps its hash)."""
    enrolment = devices.enrol(session, body.code, body.device_name)
    return EnrolResponse(
        token=enrolment.token,
        device_id=enrolment.device.id,
        clinic_id=enrolment.clinic.id,
        clinic_name=enrolment.clinic.name,
    )
