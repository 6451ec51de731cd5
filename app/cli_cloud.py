"""`chairside cloud enrol|join|status` and `chairside sync`: the cloud for clinic IT, scriptable."""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.domain.errors import UserError

EXIT_OK, EXIT_FAILED = 0, 1


def add_commands(sub: Any, add_data_dir: Callable[..., None], add_passphrase: Callable[..., None]) -> None:
    cloud = sub.add_parser("cloud", help="connect this workstation to the clinic's cloud service")
    cloud_sub = cloud.add_subparsers(dest="cloud_command", required=True)
    for name, text in (
        ("enrol", "connect this workstation's clinic to the cloud (pushes all of it the first time)"),
        ("join", "make a new, empty workstation of a clinic already in the cloud (pulls all of it)"),
    ):
        p = cloud_sub.add_parser(name, help=text)
        add_data_dir(p)
        add_passphrase(p)
        p.add_argument("--url", required=True, help="the cloud service, e.g. https://cloud.example.com")
        p.add_argument("--code", required=True, help="one-time enrolment code from the clinic's administrator")
        p.add_argument("--ca-bundle", help="CA certificates to trust (clinics behind a TLS-inspecting proxy)")
    status = cloud_sub.add_parser("status", help="is this workstation enrolled, synced, in conflict?")
    add_data_dir(status)
    add_passphrase(status)
    sync = sub.add_parser("sync", help="run one sync round with the cloud now")
    add_data_dir(sync)
    add_passphrase(sync)


def _progress(stage: str, count: int) -> None:
    if sys.stderr.isatty():
        print(f"\r{stage}: {count:,} rows", end="", file=sys.stderr, flush=True)


def _report(report: Any) -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(
        f"Synced: {report.pushed:,} rows sent, {report.pulled:,} received, {report.audit_sent:,} audit events "
        f"sent in {report.seconds:.1f} s (cloud change {report.cursor})."
    )
    for message in report.conflicts:
        print(f"Conflict: {message}")
    if report.conflicts:
        print("Open Admin → Cloud → Conflicts on a workstation to resolve them.")


def cmd_cloud(args: argparse.Namespace, data_dir: Path, passphrase: Callable[[], str | None]) -> int:
    from app import bootstrap
    from app.services import cloud, sync

    if args.cloud_command == "join":
        secret = passphrase()
        if not secret:
            raise UserError(
                "The clinic's recovery passphrase is needed to protect this workstation's copy: "
                "--passphrase-file or CHAIRSIDE_RECOVERY_PASSPHRASE."
            )
        runtime = bootstrap.join_clinic(
            data_dir, url=args.url, code=args.code, passphrase=secret, ca_bundle=args.ca_bundle, progress=_progress
        )
        try:
            print(f"Joined '{runtime.info.name}' from {args.url}; this workstation now holds the whole clinic.")
            _report(sync.run_once(runtime))
        finally:
            runtime.close()
        return EXIT_OK
    runtime = bootstrap.open_clinic(data_dir, passphrase)
    try:
        if args.cloud_command == "enrol":
            first = sync.connect_clinic(runtime, args.url, args.code, ca_bundle=args.ca_bundle)
            what = "pushing the whole clinic" if first else "catching up"
            print(f"Enrolled this workstation with {args.url}; {what}.")
            _report(sync.run_once(runtime, progress=_progress))
            return EXIT_OK
        state = sync.status(runtime)
        if not state.enrolled:
            print("Not enrolled with a cloud service.")
            return EXIT_FAILED
        config = cloud.require(runtime)
        last = f"{state.last_ok.astimezone():%d %b %Y %H:%M}" if state.last_ok else "never"
        print(f"Cloud: {config.url} (device {config.device_id})")
        print(
            f"Last sync: {last}; pending: {state.pending}; conflicts: {state.conflicts}; "
            f"audit events not yet sent: {state.audit_unsent}"
        )
        return EXIT_OK
    finally:
        runtime.close()


def cmd_sync(data_dir: Path, passphrase: Callable[[], str | None]) -> int:
    from app import bootstrap
    from app.services import sync

    runtime = bootstrap.open_clinic(data_dir, passphrase)
    try:
        _report(sync.run_once(runtime, progress=_progress))
    finally:
        runtime.close()
    return EXIT_OK
