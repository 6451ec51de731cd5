"""Live change notices: a Server-Sent Events stream of the clinic's change sequence.

The stream carries only the clinic's sequence number (`Clinic.last_seq`), never rows: a
workstation that sees it move pulls as usual. Each stream watches the database itself, so
it works the same behind any number of service instances (no shared memory, no broker).
"""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from sync.server.api.deps import ClientSchema, CurrentDevice, SessionDep, SettingsDep
from sync.server.config import Settings
from sync.server.logs import LOGGER_NAME
from sync.server.models import Clinic, Device

router = APIRouter(prefix="/v1/sync", tags=["sync"])
log = logging.getLogger(LOGGER_NAME)

MEDIA_TYPE = "text/event-stream"
KEEPALIVE = b": keepalive\n\n"
REVOKED = b"event: revoked\ndata: {}\n\n"
# proxies must neither cache the stream nor buffer it (nginx holds chunks back otherwise)
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "An endless event stream", "content": {MEDIA_TYPE: {"schema": {"type": "string"}}}},
    401: {"description": "No valid workstation token (not enrolled, or revoked)"},
    426: {"description": "The workstation's schema differs from the service's: upgrade Chairside"},
}


def changed_event(cursor: int) -> bytes:
    return f"event: changed\ndata: {json.dumps({'cursor': cursor})}\n\n".encode()


# Each read is its own short session: the connection goes back to the pool right after, so an
# open stream holds neither a connection nor a transaction between polls.
def _last_seq(make_session: sessionmaker[Session], clinic_id: str) -> int | None:
    with make_session() as session:
        return session.scalar(select(Clinic.last_seq).where(Clinic.id == clinic_id))


def _still_enrolled(make_session: sessionmaker[Session], device_id: str) -> bool:
    with make_session() as session:
        row = session.execute(select(Device.revoked_at).where(Device.id == device_id)).one_or_none()
    return row is not None and row.revoked_at is None


async def _changes(
    request: Request, make_session: sessionmaker[Session], clinic_id: str, device_id: str, settings: Settings
) -> AsyncIterator[bytes]:
    sent: int | None = None
    now = time.monotonic()
    next_keepalive = now + settings.events_keepalive_seconds
    next_recheck = now + settings.events_recheck_seconds
    try:
        while not await request.is_disconnected():
            now = time.monotonic()
            if now >= next_recheck:
                next_recheck = now + settings.events_recheck_seconds
                if not await run_in_threadpool(_still_enrolled, make_session, device_id):
                    yield REVOKED
                    return
            seq = await run_in_threadpool(_last_seq, make_session, clinic_id)
            if seq is None:  # the clinic is gone, and its workstations' tokens with it
                yield REVOKED
                return
            if seq != sent:
                sent = seq
                next_keepalive = now + settings.events_keepalive_seconds
                yield changed_event(seq)
            elif now >= next_keepalive:
                next_keepalive = now + settings.events_keepalive_seconds
                yield KEEPALIVE
            await asyncio.sleep(settings.events_poll_seconds)
    except SQLAlchemyError as exc:
        # end the stream cleanly; the workstation reconnects with backoff. Type only: no message
        error_type = type(exc).__qualname__
        log.warning("event stream ended by a database error", extra={"event": "events", "error_type": error_type})


@router.get("/events", response_class=StreamingResponse, responses=_RESPONSES)
async def events(
    request: Request, session: SessionDep, device: CurrentDevice, settings: SettingsDep, _schema: ClientSchema
) -> StreamingResponse:
    """Server-Sent Events telling this workstation when its clinic's data changed.

    Authenticated like pull: the device token (401 if unknown or revoked) and the schema
    header (426). Then `text/event-stream` with:

    - `event: changed` / `data: {"cursor": N}`: at connect, with the clinic's current cursor,
      and again within a poll interval (`EVENTS_POLL_SECONDS`, 0.25 s) whenever a push changes
      something. A workstation pulls when N is past its own cursor; after a reconnect the
      connect event says whether anything was missed meanwhile. Its own pushes show too.
    - `: keepalive` comments every `EVENTS_KEEPALIVE_SECONDS` (15 s) while nothing changes.
    - `event: revoked`, then the end of the stream, once the workstation is revoked (checked
      every `EVENTS_RECHECK_SECONDS`, 30 s): it has to be enrolled again.

    Only the caller's own clinic's sequence is ever sent: the clinic comes from the token,
    never from the request. No row data travels here, and nothing of it is logged.
    """
    clinic_id, device_id = device.clinic_id, device.id
    # the request's session is done once the token is checked; the stream may last hours
    await run_in_threadpool(session.close)
    stream = _changes(request, request.app.state.sessionmaker, clinic_id, device_id, settings)
    return StreamingResponse(stream, media_type=MEDIA_TYPE, headers=STREAM_HEADERS)
