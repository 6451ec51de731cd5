"""The `chairside` command: the desktop app by default, plus clinic IT's subcommands."""

import argparse
import getpass
import os
import sys
from pathlib import Path

from app.config import default_data_dir
from app.domain.errors import UserError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _passphrase_source(args: argparse.Namespace, *, confirm: bool = False):  # type: ignore[no-untyped-def]
    """Recovery passphrase from --passphrase-file, the environment, or a prompt (like restic)."""

    def provide() -> str | None:
        if getattr(args, "passphrase_file", None):
            try:
                return Path(args.passphrase_file).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as e:
                raise UserError(f"Cannot read the passphrase file: {e.strerror}.") from None
        env = os.environ.get("CHAIRSIDE_RECOVERY_PASSPHRASE")
        if env:
            return env
        if sys.stdin.isatty():
            first = getpass.getpass("Recovery passphrase: ")
            if confirm and getpass.getpass("Repeat it: ") != first:
                raise UserError("The two passphrases differ.")
            return first
        return None

    return provide


def _add_data_dir(p: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    # subcommands repeat the option; SUPPRESS keeps a value given before the subcommand
    p.add_argument("--data-dir", type=Path, default=default, help="the clinic's folder")


def _add_passphrase(p: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    p.add_argument("--passphrase-file", default=default, help="file holding the recovery passphrase")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chairside", description="Chairside dental practice management")
    _add_data_dir(parser, None)
    _add_passphrase(parser, None)
    sub = parser.add_subparsers(dest="command")

    init = sub.add_parser("init", help="create a new encrypted clinic")
    _add_data_dir(init)
    _add_passphrase(init)
    init.add_argument("--clinic-name", default="My Dental Clinic")
    init.add_argument("--demo", action="store_true", help="fill it with synthetic demo data")
    init.add_argument("--patients", type=int, default=500, help="demo patients to make")
    init.add_argument("--region", default="US", help="phone numbering region (ISO 3166 code)")
    init.add_argument("--date-order", choices=["MDY", "DMY"], default="MDY")
    init.add_argument("--time-zone", default="America/New_York")

    key = sub.add_parser("key", help="database key tools for clinic IT")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    export = key_sub.add_parser("export", help="print the raw SQLCipher key (x'...')")
    _add_data_dir(export)
    _add_passphrase(export)

    audit = sub.add_parser("audit", help="audit trail tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the audit hash chain")
    _add_data_dir(verify)
    _add_passphrase(verify)

    bench = sub.add_parser("bench", help="measure against the performance budgets (JSON)")
    _add_data_dir(bench)
    _add_passphrase(bench)
    bench.add_argument("--patients", type=int, default=10_000)
    return parser


def _data_dir(args: argparse.Namespace) -> Path:
    return (args.data_dir or default_data_dir()).expanduser()


def cmd_init(args: argparse.Namespace) -> int:
    from app import bootstrap

    admin_password = os.environ.get("CHAIRSIDE_ADMIN_PASSWORD")
    if not admin_password and sys.stdin.isatty():
        admin_password = getpass.getpass("Password for the first administrator ('admin'): ")
    if not admin_password:
        raise UserError("Set CHAIRSIDE_ADMIN_PASSWORD to the first administrator's password.")
    passphrase = _passphrase_source(args, confirm=True)()
    if not passphrase:
        raise UserError("A recovery passphrase is needed: --passphrase-file or CHAIRSIDE_RECOVERY_PASSPHRASE.")
    data_dir = _data_dir(args)
    runtime = bootstrap.create_clinic(
        data_dir,
        clinic_name=args.clinic_name,
        passphrase=passphrase,
        admin_password=admin_password,
        phone_region=args.region.upper(),
        date_order=args.date_order,
        time_zone=args.time_zone,
    )
    try:
        if args.demo:
            from app.services import demo

            demo.seed(runtime, patients=args.patients, staff_password=admin_password)
    finally:
        runtime.close()
    print(f"Created clinic '{args.clinic_name}' in {data_dir}.")
    print("Keep the recovery passphrase safe: with the key file it is the only way to restore.")
    return EXIT_OK


def cmd_key_export(args: argparse.Namespace) -> int:
    from app.config import Paths
    from app.db import keys

    paths = Paths(_data_dir(args))
    kf = keys.read_key_file(paths.key_file)
    passphrase = _passphrase_source(args)()
    if not passphrase:
        raise UserError("The recovery passphrase is needed to export the key.")
    key = keys.unwrap_key(kf, passphrase)
    print(keys.sqlcipher_key_literal(key))
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from app import bootstrap
    from app.services import audit

    runtime = bootstrap.open_clinic(_data_dir(args), _passphrase_source(args))
    try:
        broken = audit.verify(runtime)
    finally:
        runtime.close()
    if broken is None:
        print("Audit trail intact.")
        return EXIT_OK
    print(f"Audit trail BROKEN at event {broken.seq}: {broken.reason}.")
    return EXIT_FAILED


def cmd_bench(args: argparse.Namespace) -> int:
    from app.services import bench
    from app.ui.chart.measure import chart_figures
    from app.ui.schedule.measure import day_view_figures

    def gui_figures(ctx):  # type: ignore[no-untyped-def]
        return {**day_view_figures(ctx), **chart_figures(ctx)}

    code = bench.main(_data_dir(args), patients=args.patients, passphrase=_passphrase_source(args), extra=gui_figures)
    # the figures are printed; leave without interpreter teardown, where Qt objects made for
    # the offscreen paint measurement can be destroyed out of order and crash
    sys.stdout.flush()
    os._exit(code)


def cmd_gui(args: argparse.Namespace) -> int:
    from app.ui.app import run

    return run(_data_dir(args), passphrase_file=args.passphrase_file)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "init": cmd_init,
        "key": cmd_key_export,
        "audit": cmd_audit_verify,
        "bench": cmd_bench,
        None: cmd_gui,
    }
    try:
        return handlers[args.command](args)
    except UserError as e:
        print(f"chairside: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_USAGE
