"""Typed dependencies shared by the routes: settings, a session, the calling workstation."""

from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sync.protocol import SCHEMA_HEADER, SCHEMA_VERSION
from sync.server.config import Settings
from sync.server.services import devices
from sync.server.services.sync import ClinicSync

T = TypeVar("T")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    # uncommitted work is rolled back when the request ends: services commit explicitly
    with request.app.state.sessionmaker() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="The device token a workstation got at enrolment.")


async def device_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The token of `Authorization: Bearer <token>` (not yet checked); 401 without one."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(
            status_code=401,
            detail="This request carries no workstation token; enrol the workstation first.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return credentials.credentials


DeviceToken = Annotated[str, Depends(device_token)]


def authenticated(session: Session, token: str) -> devices.Caller:
    """The enrolled workstation holding `token`; 401 otherwise."""
    try:
        return devices.authenticate(session, token)
    except (devices.NotEnrolled, devices.DeviceRevoked) as refused:
        raise HTTPException(status_code=401, detail=refused.message, headers={"WWW-Authenticate": "Bearer"}) from None


def current_device(session: SessionDep, token: DeviceToken) -> devices.Caller:
    return authenticated(session, token)


CurrentDevice = Annotated[devices.Caller, Depends(current_device)]


async def client_schema(x_chairside_schema: Annotated[str | None, Header(alias=SCHEMA_HEADER)] = None) -> str:
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


def nothing_new(request: Request, token: str, cursor: int) -> bool:
    """On the event loop: whether a pull at `cursor` has nothing to answer (devices.polled_at_head).

    Most pulls are a workstation polling with nothing new: one primary-key lookup over the
    loop's own connection (db.make_engine) costs less than handing the request to a worker
    thread. Anything else, and any database error, goes the full way (run_for_clinic).
    """
    try:
        with request.app.state.poller() as session:
            return devices.polled_at_head(session, token, cursor)
    except DBAPIError:
        return False


async def run_for_clinic(
    request: Request, token: str, work: Callable[[ClinicSync], T], *, reads_only: bool = False
) -> T:
    """`work` for the workstation holding `token`, with its session, in one worker thread.

    The sync routes are the hot path (every workstation polls): opening the session,
    checking the token and the work itself share one thread hop instead of one per dependency.
    `reads_only`: work that needs no transaction around its statements (db.make_reader).
    """
    state = request.app.state
    make_session = state.reader if reads_only else state.sessionmaker

    def in_thread() -> T:
        with make_session() as session:
            caller = authenticated(session, token)
            sync = ClinicSync(
                session,
                caller.clinic_id,
                caller.id,
                max_page_rows=state.settings.pull_page_rows,
                seq_at_auth=caller.clinic_seq,
            )
            return work(sync)

    try:
        return await run_in_threadpool(in_thread)
    except DBAPIError as e:
        if not (reads_only and e.connection_invalidated):
            raise
        # the database restarted since this connection was pooled: reads are safe to run again
        return await run_in_threadpool(in_thread)
