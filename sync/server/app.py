"""The FastAPI application: `create_app(settings)` wires settings, database, routes and middleware."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sync.backups import UPLOADS
from sync.server import logs
from sync.server.api.routes import audit, backups, devices, enrol, events, health, sync
from sync.server.config import Settings
from sync.server.db import make_engine, make_reader, make_sessionmaker
from sync.server.limits import BodySizeLimitMiddleware
from sync.server.ratelimit import RateLimiter
from sync.server.services import ServiceError
from sync.server.services.audit_trail import AuditAltered, AuditGap, AuditRetry
from sync.server.services.backup_store import BackupConflict, BackupNotFound, StorageFailed
from sync.server.services.clinics import UnknownClinic
from sync.server.services.devices import DeviceNotFound, EnrolCodeRefused
from sync.server.services.sync import PushIdReused, PushRetry

# the HTTP status of each named service error; any other ServiceError is a 400
ERROR_STATUS: dict[type[ServiceError], int] = {
    EnrolCodeRefused: 403,
    DeviceNotFound: 404,
    UnknownClinic: 404,
    PushIdReused: 409,
    PushRetry: 503,
    AuditAltered: 422,
    AuditGap: 409,
    AuditRetry: 503,
    BackupNotFound: 404,
    BackupConflict: 409,
    StorageFailed: 507,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new application over its own engine; migrations are run by the caller (`serve`, tests)."""
    settings = settings or Settings()
    logs.configure(settings.log_level)
    app = FastAPI(
        title="Chairside cloud",
        summary="Sync, enrolment, encrypted backups and (later) the patient portal for Chairside clinics.",
        version="0.1.0",
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.reader = make_reader(engine)
    app.state.poller = make_reader(make_engine(settings.database_url, for_the_event_loop=True))
    app.state.enrol_limiter = RateLimiter(settings.enrol_rate_per_minute)

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        status = next((code for kind, code in ERROR_STATUS.items() if isinstance(exc, kind)), 400)
        return JSONResponse(status_code=status, content={"detail": exc.message})

    for module in (health, enrol, sync, audit, events, devices, backups):
        app.include_router(module.router)
    # the last added runs first: the access log sees every request, including refused ones
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        per_prefix={UPLOADS + "/": settings.backup_max_body_bytes},
    )
    app.add_middleware(logs.AccessLogMiddleware)
    return app
