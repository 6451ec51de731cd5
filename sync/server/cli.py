"""`chairside-cloud`: run the service, create clinics, print enrolment codes, check audit trails."""

import argparse
import sys
from collections.abc import Sequence

from sync.server.config import Settings


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _fail(text: str) -> int:
    sys.stderr.write(f"chairside-cloud: {text}\n")
    return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chairside-cloud",
        description="The Chairside cloud service. The database comes from DATABASE_URL "
        "(default: a SQLite file ./chairside-cloud.db, for trying it on one machine).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="upgrade the database schema, then serve HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--workers", type=int, default=1)
    clinic = commands.add_parser("clinic", help="manage clinics").add_subparsers(dest="clinic_command", required=True)
    create = clinic.add_parser("create", help="create a clinic and print its id")
    create.add_argument("--name", required=True)
    code = commands.add_parser("enrol-code", help="print a one-time code that enrols one workstation")
    code.add_argument("--clinic", required=True, help="the clinic id")
    code.add_argument("--hours", type=float, default=24, help="how long the code stays valid (default 24)")
    audit = commands.add_parser("audit", help="the audit events workstations sent").add_subparsers(
        dest="audit_command", required=True
    )
    verify = audit.add_parser("verify", help="check every audit event of a clinic against its hash and chain")
    verify.add_argument("--clinic", required=True, help="the clinic id")
    return parser


def _migrated_engine(settings: Settings):  # type: ignore[no-untyped-def]
    from sync.server import migrate
    from sync.server.db import make_engine

    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    return engine


def _serve(settings: Settings, host: str, port: int, workers: int) -> int:
    import uvicorn

    from sync.server import logs

    _migrated_engine(settings).dispose()
    uvicorn.run(
        "sync.server.main:app",
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # ours logs method, path, status and duration, and never query strings
        log_config=logs.uvicorn_log_config(settings.log_level),
        proxy_headers=True,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    return 0


def _verify_audit(session, clinic_id: str) -> int:  # type: ignore[no-untyped-def]
    from sync.server.services import audit_trail, clinics

    clinics.get_clinic(session, clinic_id)
    check = audit_trail.verify(session, clinic_id)
    summary = f"{check.events} audit events from {len(check.workstations)} workstation(s)"
    if check.intact:
        _say(f"Audit trail intact: {summary}.")
        return 0
    for line in check.breaks:
        sys.stderr.write(f"  {line}\n")
    return _fail(f"the audit trail is broken ({summary}); the first breaks are listed above.")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValueError as exc:
        return _fail(f"the settings are not valid: {exc}")
    from sqlalchemy.exc import OperationalError

    from sync.server.migrate import NewerServerSchema
    from sync.server.services import ServiceError

    try:
        if args.command == "serve":
            return _serve(settings, args.host, args.port, args.workers)
        from sqlalchemy.orm import Session

        from sync.server.services import clinics

        engine = _migrated_engine(settings)
        try:
            with Session(engine) as session:
                if args.command == "clinic":
                    clinic = clinics.create_clinic(session, args.name)
                    _say(clinic.id)
                elif args.command == "audit":
                    return _verify_audit(session, args.clinic)
                else:
                    _say(clinics.create_enrol_code(session, args.clinic, hours=args.hours))
        finally:
            engine.dispose()
        return 0
    except ServiceError as exc:
        return _fail(exc.message)
    except NewerServerSchema as exc:
        return _fail(str(exc))
    except OperationalError as exc:
        return _fail(f"cannot reach the database ({type(exc.orig).__name__}); check DATABASE_URL.")


if __name__ == "__main__":
    sys.exit(main())
