"""The `chairside` command: the desktop app by default, plus clinic IT's subcommands."""

import argparse
import getpass
import os
import sys
from pathlib import Path

from app import cli_cloud
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


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


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

    backup = sub.add_parser("backup", help="encrypted backups to the clinic's cloud or a folder (USB disk, NAS)")
    backup_sub = backup.add_subparsers(dest="backup_command", required=True)
    b_create = backup_sub.add_parser("create", help="back the clinic up (resumes an interrupted backup)")
    _add_data_dir(b_create)
    _add_passphrase(b_create)
    b_create.add_argument("--folder", type=Path, help="folder to keep backups in (default: the clinic's cloud)")
    b_create.add_argument("--cloud", action="store_true", help="with --folder: back up to the cloud as well")
    for period, unit in (("daily", "day"), ("weekly", "ISO week"), ("monthly", "month")):
        b_create.add_argument(
            f"--keep-{period}",
            type=_count,
            metavar="N",
            help=f"then keep the newest backup of each of the last N {unit}s that have one and delete "
            "this clinic's other backups (a --keep-* not given counts as 0; the newest is always kept)",
        )
    b_list = backup_sub.add_parser("list", help="list the clinic's backups")
    _add_data_dir(b_list)
    _add_passphrase(b_list)
    b_list.add_argument("--folder", type=Path, help="folder the backups are in (default: the clinic's cloud)")
    b_verify = backup_sub.add_parser("verify", help="restore a backup into a scratch folder and check all of it")
    _add_data_dir(b_verify)
    _add_passphrase(b_verify)
    b_verify.add_argument("--folder", type=Path, help="folder the backups are in (default: the clinic's cloud)")
    b_verify.add_argument("backup_id", nargs="?", help="which backup (default: the newest)")
    b_nightly = backup_sub.add_parser(
        "nightly", help="show or choose whether this workstation takes the clinic's nightly backup, and its folder"
    )
    _add_data_dir(b_nightly)
    _add_passphrase(b_nightly)
    here = b_nightly.add_mutually_exclusive_group()
    here.add_argument("--here", dest="here", action="store_const", const=True, help="take it on this workstation")
    here.add_argument("--not-here", dest="here", action="store_const", const=False, help="do not take it here")
    where = b_nightly.add_mutually_exclusive_group()
    where.add_argument("--folder", type=Path, help="also back up to this folder (a USB disk, a NAS share)")
    where.add_argument("--no-folder", action="store_true", help="no folder: the clinic's cloud only")
    b_restore = backup_sub.add_parser("restore", help="restore a backup as a clinic (recovery passphrase needed)")
    _add_passphrase(b_restore)
    source = b_restore.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", type=Path, help="folder the backups are in")
    source.add_argument("--url", help="the clinic's cloud service, e.g. https://cloud.example.com (needs --code)")
    b_restore.add_argument(
        "--code", help="with --url: one-time enrolment code from the clinic's administrator (or CHAIRSIDE_ENROL_CODE)"
    )
    b_restore.add_argument("--ca-bundle", help="with --url: CA certificates to trust (TLS-inspecting proxies)")
    b_restore.add_argument("--to", type=Path, required=True, help="folder to restore the clinic into")
    b_restore.add_argument("backup_id", nargs="?", help="which backup (default: the newest)")
    b_restore.add_argument(
        "--overwrite", action="store_true", help="replace a clinic already there (it is kept aside, not deleted)"
    )

    cli_cloud.add_commands(sub, _add_data_dir, _add_passphrase)

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


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _where(store) -> str:  # type: ignore[no-untyped-def]
    from app.services import backup

    return str(store.root) if isinstance(store, backup.FolderStore) else store.describe()


def cmd_backup(args: argparse.Namespace) -> int:
    import contextlib
    import functools

    from app import bootstrap
    from app.services import backup

    if args.backup_command == "restore":
        return _backup_restore(args)
    # asked at most once, whether the clinic or the backup needs it
    provide = functools.cache(_passphrase_source(args))
    data_dir = _data_dir(args)
    runtime = bootstrap.open_clinic(data_dir, provide)
    try:
        if args.backup_command == "nightly":
            return _backup_nightly(args, runtime)
        with contextlib.ExitStack() as stack:
            stores = _backup_stores(args, runtime, stack)
            if args.backup_command == "create":
                return _backup_create(args, runtime, stores, provide)
            [store] = stores
            if args.backup_command == "list":
                return _backup_list(runtime, store)
            passphrase = provide()
            db_key = None if passphrase else bootstrap.unlock_key(data_dir, provide)
            try:
                checked = backup.verify(store, args.backup_id, passphrase, db_key=db_key, runtime=runtime)
            except backup.BackupDamaged as e:
                print(f"chairside: {e}", file=sys.stderr)
                return EXIT_FAILED
            how = "recovery passphrase" if passphrase else "clinic key"
            print(
                f"Backup {checked.backup_id} (made {checked.created_at.astimezone():%d %b %Y %H:%M}) is intact: "
                f"{_files(checked.files)}, {_mb(checked.total_size)} restored and checked (opened with the {how}; "
                "database integrity and audit trail OK)."
            )
            return EXIT_OK
    finally:
        runtime.close()


def _backup_nightly(args: argparse.Namespace, runtime) -> int:  # type: ignore[no-untyped-def]
    from app.services import backup_schedule, cloud
    from app.services.messaging.settings import transports_from_env

    sends = bool(transports_from_env())
    if args.here is not None or args.folder or args.no_folder:
        folder = None if args.no_folder else args.folder or backup_schedule.backup_folder(runtime)
        backup_schedule.choose(runtime, here=args.here, folder=folder)
    if not backup_schedule.runs_here(runtime, sends_messages=sends):
        print("This workstation does not take the clinic's nightly backup (--here to take it).")
        return EXIT_OK
    folder = backup_schedule.backup_folder(runtime)
    places = [p for p in ("the clinic's cloud" if cloud.read_settings(runtime, cloud.URL) else "", folder) if p]
    print(
        "This workstation takes the clinic's nightly backup at 02:30 clinic time, to "
        + (" and ".join(str(p) for p in places) if places else "nowhere yet (not enrolled, no --folder)")
        + ". It applies from tonight (from its next start where Chairside had nowhere to back up to)."
    )
    return EXIT_OK


def _backup_stores(args: argparse.Namespace, runtime, stack) -> list:  # type: ignore[no-untyped-def]
    """--folder, the clinic's cloud, or (create --folder --cloud) both."""
    from app.services import backup, cloud
    from app.services.backup_cloud import open_cloud_store

    stores: list[backup.BackupStore] = [backup.FolderStore(args.folder)] if args.folder else []
    if not stores or getattr(args, "cloud", False):
        try:
            stores.append(stack.enter_context(open_cloud_store(runtime)))
        except cloud.NotEnrolled as e:
            raise UserError(f"{e} Or keep backups in a folder: --folder PATH.") from None
    return stores


def _backup_restore(args: argparse.Namespace) -> int:
    from app.services import backup

    passphrase = _passphrase_source(args)()
    if not passphrase:
        raise UserError(
            "The recovery passphrase is needed to restore a backup: --passphrase-file or CHAIRSIDE_RECOVERY_PASSPHRASE."
        )
    if args.folder is not None:
        if args.code or args.ca_bundle:
            raise UserError("--code and --ca-bundle are for restoring from the cloud (--url).")
        done = backup.restore(
            backup.FolderStore(args.folder), args.backup_id, args.to, passphrase, overwrite=args.overwrite
        )
    else:
        from app.services.backup_cloud import restore_from_cloud

        code = args.code or os.environ.get("CHAIRSIDE_ENROL_CODE")
        if not code:
            raise UserError(
                "Restoring from the cloud on this computer needs a one-time enrolment code from the clinic's "
                "administrator: --code CODE or CHAIRSIDE_ENROL_CODE."
            )
        done = restore_from_cloud(
            args.url, code, args.backup_id, args.to, passphrase, ca_bundle=args.ca_bundle, overwrite=args.overwrite
        )
    print(
        f"Restored backup {done.backup_id} (made {done.created_at.astimezone():%d %b %Y %H:%M}) into "
        f"{done.to_dir}: {_files(done.files)}, {_mb(done.total_size)}."
    )
    if done.replaced is not None:
        print(f"The clinic that was there is kept in {done.replaced}.")
    if args.url:
        print(f"The restored clinic stays connected to {args.url} as this computer (no new enrolment needed).")
    return EXIT_OK


def _backup_create(args: argparse.Namespace, runtime, stores, provide) -> int:  # type: ignore[no-untyped-def]
    from app.services import backup

    failed = 0
    for store in stores:
        try:
            made = backup.create(runtime, store, passphrase=provide)
        except UserError as e:
            if len(stores) == 1:
                raise
            print(f"chairside: {e}", file=sys.stderr)  # and on to the other destination
            failed += 1
            continue
        resumed = f" (resumed: {made.chunks_reused} of {made.chunks} chunks were already there)" if made.resumed else ""
        print(
            f"Backup {made.backup_id} written to {_where(store)}: {_files(made.files)}, {_mb(made.total_size)} "
            f"in {made.seconds:.1f} s ({made.mb_per_s:.0f} MB/s){resumed}."
        )
        keep = (args.keep_daily, args.keep_weekly, args.keep_monthly)
        if any(k is not None for k in keep):
            daily, weekly, monthly = (k if k is not None else 0 for k in keep)
            deleted = backup.apply_retention(
                store, runtime.info.clinic_id, daily=daily, weekly=weekly, monthly=monthly, runtime=runtime
            )
            print(f"Retention deleted {len(deleted)} older backups" + (f": {', '.join(deleted)}." if deleted else "."))
    return EXIT_FAILED if failed else EXIT_OK


def _backup_list(runtime, store) -> int:  # type: ignore[no-untyped-def]
    from app.services import backup

    backups = backup.list_backups(store, runtime.info.clinic_id)
    if not backups:
        print(f"No backups of this clinic in {_where(store)}.")
        return EXIT_OK
    status = backup.verification_status(runtime)
    print(f"{'BACKUP':<24}  {'MADE':<16}  {'SIZE':>12}  VERIFIED")
    for b in backups:
        if not b.readable or b.created_at is None:
            print(f"{b.backup_id:<24}  {'?':<16}  {'?':>12}  manifest unreadable (damaged)")
            continue
        checked = status.get(b.backup_id)
        verdict = "no" if checked is None else ("yes" if checked[0] else "FAILED")
        if checked is not None:
            verdict += f" ({checked[1].astimezone():%d %b %Y %H:%M})"
        print(f"{b.backup_id:<24}  {b.created_at.astimezone():%Y-%m-%d %H:%M}  {_mb(b.total_size):>12}  {verdict}")
    return EXIT_OK


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
    # the program's own non-Qt layers before Qt: once loaded, PySide6 reads the source of every
    # module imported after it (its __feature__ import hook), a tenth of a second or more per start
    import app.bootstrap
    import app.services.clinical_notes
    import app.services.patients
    import app.services.sync_background
    import app.services.sync_conflicts  # noqa: F401
    from app.ui.app import run

    return run(_data_dir(args), passphrase_file=args.passphrase_file)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "init": cmd_init,
        "key": cmd_key_export,
        "audit": cmd_audit_verify,
        "backup": cmd_backup,
        "bench": cmd_bench,
        "cloud": lambda a: cli_cloud.cmd_cloud(a, _data_dir(a), _passphrase_source(a)),
        "sync": lambda a: cli_cloud.cmd_sync(_data_dir(a), _passphrase_source(a)),
        None: cmd_gui,
    }
    try:
        return handlers[args.command](args)
    except UserError as e:
        print(f"chairside: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_USAGE
