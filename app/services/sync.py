"""One sync round of this workstation with the cloud: push what changed here, then pull.

Push: the change log's unpushed entries, in batches, each batch saved (with its push id) in
`local_setting` before it is sent. A batch whose reply was lost is sent again, byte for byte
the same, so the cloud recognises the push id and changes nothing twice; the entries are
marked pushed only when the reply arrives.

Pull: pages of the cloud's changes since the saved cursor, each page applied and the cursor
moved in one transaction, so a workstation killed mid-pull resumes from its last whole page.

Conflicts never vanish: a booking the cloud refused (the time was taken on another
workstation) goes to the pinboard and into the conflicts list; a record changed here and on
another workstation keeps the cloud's version and lists this workstation's version beside
it for a person to choose (see `sync_conflicts`). Patient rows merge field by field.
"""

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.db.engine import foreign_keys_off
from app.db.models import SyncConflict
from app.db.types import utcnow
from app.domain.errors import UserError
from app.services import backup_schedule, cloud, sync_audit
from app.services import sync_rows as rows
from app.services.context import Ctx, UnitOfWork
from app.services.runtime import ClinicRuntime
from sync.client import CloudError, CloudUnreachable
from sync.protocol import FIELD_MERGE_TABLES, FIELD_VERSIONS_KEY, Conflict, PushRequest, SyncApi, TableChanges

log = logging.getLogger(__name__)

CURSOR, OUTBOX, LAST_OK = "sync.cursor", "sync.outbox", "sync.last_ok"
# a push stays well under the service's 10 MB request limit
BATCH_ROWS, BATCH_BYTES = 2_000, 4_000_000
PULL_PAGE = 2_000

Progress = Callable[[str, int], None]


class SyncFailed(UserError):
    """The round stopped; `offline` when the cloud could not be reached (retry later)."""

    def __init__(self, message: str, *, offline: bool) -> None:
        super().__init__(message)
        self.offline = offline


@dataclass
class SyncReport:
    pushed: int = 0
    pulled: int = 0
    conflicts: list[str] = field(default_factory=list)  # messages of the new conflicts
    cursor: int = 0
    seconds: float = 0.0
    audit_sent: int = 0  # audit events new to the cloud


def _audit(uow: UnitOfWork, action: str, details: dict[str, Any]) -> None:
    uow.audit(action, entity_type="sync", details=details, username="sync")


def _setting(conn: Connection, key: str) -> str | None:
    found = conn.exec_driver_sql("SELECT value FROM local_setting WHERE key = ?", (key,)).scalar()
    return None if found is None else str(found)


def _set(conn: Connection, key: str, value: str | None) -> None:
    if value is None:
        conn.exec_driver_sql("DELETE FROM local_setting WHERE key = ?", (key,))
    else:
        conn.exec_driver_sql(
            "INSERT INTO local_setting (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


# --- push ----------------------------------------------------------------------------------


def _field_times(entries: list[tuple[str, str | None]], table: str) -> dict[str, str]:
    """When each field was last written here, from the change log (an insert writes them all)."""
    times: dict[str, str] = {}
    for changed_at, fields in entries:
        names = rows.columns(table) if fields is None else json.loads(fields)
        for name in names:
            if name not in ("id", "version") and times.get(name, "") < changed_at:
                times[name] = changed_at
    return times


def _collect(conn: Connection, cursor: int) -> tuple[PushRequest, int] | None:
    """The next batch of unpushed changes, and the last change-log entry it covers."""
    entries = conn.exec_driver_sql(
        "SELECT seq, table_name, row_id, operation, changed_at, changed_fields FROM change_log "
        "WHERE pushed_at IS NULL ORDER BY seq LIMIT ?",
        (BATCH_ROWS * 4,),
    ).all()
    if not entries:
        return None
    by_row: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
    created: set[tuple[str, str]] = set()
    for _seq, table, row_id, operation, changed_at, fields in entries:
        by_row.setdefault((table, row_id), []).append((changed_at, fields))
        if operation == "insert":
            created.add((table, row_id))
    ids_by_table: dict[str, list[str]] = defaultdict(list)
    for table, row_id in by_row:
        ids_by_table[table].append(row_id)
    synced = rows.synced_tables()
    stored = {table: rows.read(conn, table, ids) for table, ids in ids_by_table.items() if table in synced}
    included: dict[tuple[str, str], dict[str, Any] | None] = {}
    size = 0
    for key in by_row:  # oldest change first, until the batch is full
        if len(included) >= BATCH_ROWS or size > BATCH_BYTES:
            break
        row = stored.get(key[0], {}).get(key[1])  # None: never committed, or not a synced table
        if row is not None and key[0] in FIELD_MERGE_TABLES:
            row[FIELD_VERSIONS_KEY] = _field_times(by_row[key], key[0])
        included[key] = row
        size += len(json.dumps(row, default=str))
    last_seq = 0
    for seq, table, row_id, *_ in entries:
        if (table, row_id) not in included:
            break  # later entries of included rows wait for the next batch
        last_seq = seq
    changes: dict[str, TableChanges] = {}
    for table in rows.synced_tables():
        for (t, _row_id), row in included.items():
            if t == table and row is not None:
                out = changes.setdefault(table, TableChanges())
                (out.created if (t, row["id"]) in created else out.updated).append(row)
    return PushRequest(push_id=uuid.uuid4().hex, last_pulled_cursor=cursor, changes=changes), last_seq


def _next_push(runtime: ClinicRuntime) -> tuple[PushRequest, int] | None:
    """The saved unanswered push, or a new batch saved before it is sent."""
    with runtime.write_lock, runtime.engine.begin() as conn:
        saved = _setting(conn, OUTBOX)
        if saved is not None:
            body = json.loads(saved)
            return PushRequest.model_validate(body["request"]), int(body["last_seq"])
        cursor = int(_setting(conn, CURSOR) or 0)
        batch = _collect(conn, cursor)
        if batch is None:
            return None
        request, last_seq = batch
        _set(conn, OUTBOX, json.dumps({"request": request.model_dump(mode="json"), "last_seq": last_seq}))
        return batch


def _push_all(runtime: ClinicRuntime, api: SyncApi, report: SyncReport, progress: Progress | None) -> None:
    while (batch := _next_push(runtime)) is not None:
        request, last_seq = batch
        response = api.push(request)  # a lost reply raises; the saved batch is resent next time
        with Ctx(runtime, None).uow() as uow:
            conn = uow.session.connection()
            conn.exec_driver_sql(
                "UPDATE change_log SET pushed_at = ? WHERE pushed_at IS NULL AND seq <= ?",
                (rows.stamp(utcnow()), last_seq),
            )
            _set(conn, OUTBOX, None)
            for conflict in response.conflicts:
                report.conflicts.append(_push_conflict(uow, conn, request, conflict))
            uow.commit()
        report.pushed += response.applied
        if progress:
            progress("push", report.pushed)


def _pushed_row(request: PushRequest, table: str, row_id: str) -> dict[str, Any] | None:
    changes = request.changes.get(table)
    if changes is None:
        return None
    return next((r for r in [*changes.created, *changes.updated] if r["id"] == row_id), None)


def _record(
    uow: UnitOfWork,
    table: str,
    row_id: str,
    reason: str,
    message: str,
    local_row: dict[str, Any] | None,
    server_row: dict[str, Any] | None,
) -> str:
    uow.session.add(
        SyncConflict(
            table_name=table,
            row_id=row_id,
            reason=reason,
            message=message,
            local_row=None if local_row is None else json.dumps(local_row, default=str),
            server_row=None if server_row is None else json.dumps(server_row, default=str),
            detected_at=utcnow(),
        )
    )
    _audit(uow, "sync.conflict", {"table": table, "row_id": row_id, "reason": reason})
    return message


def _push_conflict(uow: UnitOfWork, conn: Connection, request: PushRequest, conflict: Conflict) -> str:
    """Keep what the cloud refused where a person will see it; converge on the cloud's state."""
    mine = _pushed_row(request, conflict.table, conflict.row_id)
    if mine is not None:
        mine.pop(FIELD_VERSIONS_KEY, None)
    if conflict.reason == "overlap":
        # the time went to another workstation's booking: this one waits on the pinboard
        current = rows.read(conn, conflict.table, [conflict.row_id]).get(conflict.row_id)
        if current is not None:
            rows.write_local(conn, conflict.table, {**current, "on_pinboard": 1}, ["on_pinboard"])
        message = f"{conflict.message} It was moved to the pinboard to be rebooked."
        return _record(uow, conflict.table, conflict.row_id, "overlap", message, mine, conflict.server_row)
    if conflict.server_row is not None:
        server_row = dict(conflict.server_row)
        deleted = bool(server_row.pop("_deleted", False))
        # the same version number as this workstation's row, other content: replace it outright
        conn.exec_driver_sql("INSERT INTO sync_applying (active) VALUES (1)")
        rows.upsert(conn, conflict.table, [server_row])
        conn.exec_driver_sql("DELETE FROM sync_applying")
        if deleted:
            rows.tombstone(conn, conflict.table, [conflict.row_id])
    return _record(uow, conflict.table, conflict.row_id, conflict.reason, conflict.message, mine, conflict.server_row)


# --- pull ----------------------------------------------------------------------------------


def _pending(conn: Connection, table: str, ids: list[str]) -> dict[str, list[tuple[str, str | None]]]:
    """This workstation's unpushed changes to these rows: (when, fields) per row."""
    found: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        result = conn.exec_driver_sql(
            "SELECT row_id, changed_at, changed_fields FROM change_log WHERE pushed_at IS NULL AND table_name = ? "
            f"AND row_id IN ({','.join('?' * len(chunk))})",
            (table, *chunk),
        )
        for row_id, changed_at, fields in result:
            found[row_id].append((changed_at, fields))
    return found


def _merge_patient(pulled: dict[str, Any], mine: dict[str, Any], times: dict[str, str]) -> dict[str, Any]:
    """The cloud's row with this workstation's later field writes on top (last writer per field)."""
    theirs = pulled.get(FIELD_VERSIONS_KEY) or {}
    merged = dict(pulled)
    for name, written in times.items():
        if name in mine and written > str(theirs.get(name, "")):
            merged[name] = mine[name]
    merged["version"] = int(pulled["version"]) + 1  # newer than the cloud's: the next push fast-forwards
    return merged


def _apply_rows(conn: Connection, table: str, incoming: list[dict[str, Any]]) -> list[tuple[dict, dict]]:
    """Store pulled rows; returns (mine, theirs) pairs that changed on both sides."""
    ids = [r["id"] for r in incoming]
    local = rows.versions(conn, table, ids)
    pending = _pending(conn, table, ids)
    mine_rows = rows.read(conn, table, list(pending)) if pending else {}
    store: list[dict[str, Any]] = []
    clashes: list[tuple[dict, dict]] = []
    for row in incoming:
        row_id, version = row["id"], int(row["version"])
        if row_id not in pending:
            if local.get(row_id) != version:
                store.append(row)
            continue
        mine = mine_rows[row_id]
        if table in FIELD_MERGE_TABLES:
            store.append(_merge_patient(row, mine, _field_times(pending[row_id], table)))
        elif int(mine["version"]) <= version:
            clashes.append((mine, row))
            store.append(row)
        # else: this workstation's version is newer and is pushed next
    renumbered = _settle_chart_numbers(conn, store) if table == "patient" else []
    rows.upsert(conn, table, store)
    for row in renumbered:
        rows.log_change(conn, table, row["id"], row["version"], ["chart_no"])
    if clashes:
        marks = ",".join("?" * len(clashes))
        conn.exec_driver_sql(
            f"UPDATE change_log SET pushed_at = ? WHERE pushed_at IS NULL AND table_name = ? AND row_id IN ({marks})",
            (rows.stamp(utcnow()), table, *(m["id"] for m, _ in clashes)),
        )
    return clashes


def _settle_chart_numbers(conn: Connection, store: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two patients registered offline on two workstations can get the same chart number.

    The patient registered first (the smaller, time-ordered id) keeps it; the other gets the
    number with a suffix made from its own id, so every workstation that notices renames it
    the same way and they converge. Returns the incoming rows renamed (to be pushed).
    """
    incoming = {r["id"]: r for r in store}
    numbers = sorted({r["chart_no"] for r in store})
    holders: dict[str, set[str]] = defaultdict(set)
    for row in store:
        holders[row["chart_no"]].add(row["id"])
    for start in range(0, len(numbers), 500):
        chunk = numbers[start : start + 500]
        result = conn.exec_driver_sql(
            f"SELECT chart_no, id FROM patient WHERE chart_no IN ({','.join('?' * len(chunk))})", tuple(chunk)
        )
        for chart_no, row_id in result:
            if row_id not in incoming:
                holders[chart_no].add(row_id)
    renamed: list[dict[str, Any]] = []
    for chart_no, ids in holders.items():
        for loser in sorted(ids)[1:]:
            new_number = f"{chart_no}-{loser.replace('-', '')[-4:].upper()}"
            if loser in incoming:
                row = incoming[loser]
                row.update(chart_no=new_number, version=int(row["version"]) + 1)
                renamed.append(row)
            else:
                mine = rows.read(conn, "patient", [loser])[loser]
                rows.write_local(conn, "patient", {**mine, "chart_no": new_number}, ["chart_no"])
    return renamed


# pending local bookings that now overlap a booking applied from the cloud
_LOCAL_CLASHES = """
SELECT DISTINCT mine.id FROM appointment mine
JOIN change_log c ON c.table_name = 'appointment' AND c.row_id = mine.id AND c.pushed_at IS NULL
JOIN appointment other ON other.id != mine.id AND other.deleted_at IS NULL AND other.on_pinboard = 0
  AND other.status IN ('scheduled', 'confirmed', 'arrived', 'seated', 'completed')
  AND other.starts_at < mine.ends_at AND mine.starts_at < other.ends_at
  AND (other.provider_id = mine.provider_id OR other.patient_id = mine.patient_id
       OR (mine.operatory_id IS NOT NULL AND other.operatory_id = mine.operatory_id))
WHERE mine.deleted_at IS NULL AND mine.on_pinboard = 0 AND mine.starts_at IS NOT NULL
  AND mine.status IN ('scheduled', 'confirmed', 'arrived', 'seated', 'completed')
  AND other.id NOT IN (SELECT row_id FROM change_log WHERE table_name = 'appointment' AND pushed_at IS NULL)
"""


def _apply_page(uow: UnitOfWork, changes: dict[str, TableChanges], report: SyncReport) -> None:
    conn = uow.session.connection()
    conn.exec_driver_sql("INSERT INTO sync_applying (active) VALUES (1)")
    known = rows.synced_tables()
    for table in [t for t in known if t in changes]:
        table_changes = changes[table]
        incoming = [*table_changes.created, *table_changes.updated]
        for mine, theirs in _apply_rows(conn, table, incoming):
            message = (
                "This record was changed here and on another workstation; the other workstation's version is kept."
            )
            report.conflicts.append(_record(uow, table, mine["id"], "changed_on_both", message, mine, theirs))
        rows.tombstone(conn, table, table_changes.deleted)
        report.pulled += len(incoming) + len(table_changes.deleted)
    for table in set(changes) - set(known):
        log.warning("pulled changes for a table this workstation does not have: %s", table)
    if "appointment" in changes:
        for (row_id,) in conn.exec_driver_sql(_LOCAL_CLASHES).all():
            current = rows.read(conn, "appointment", [row_id])[row_id]
            rows.write_local(conn, "appointment", {**current, "on_pinboard": 1}, ["on_pinboard"])
            message = (
                "This booking overlaps one made on another workstation while this one was offline; "
                "it was moved to the pinboard to be rebooked."
            )
            report.conflicts.append(_record(uow, "appointment", row_id, "overlap", message, current, None))
    conn.exec_driver_sql("DELETE FROM sync_applying")


def _pull_all(runtime: ClinicRuntime, api: SyncApi, report: SyncReport, progress: Progress | None) -> None:
    """Pull and apply pages until the head. The next page is fetched while this one is
    applied (the service and this workstation work at the same time: a first sync takes
    about as long as the slower of the two, not both added)."""
    with runtime.engine.connect() as conn:
        cursor = int(_setting(conn, CURSOR) or 0)
    with ThreadPoolExecutor(1, thread_name_prefix="sync-pull") as fetcher:
        coming = fetcher.submit(api.pull, cursor, PULL_PAGE)
        while True:
            page = coming.result()
            if page.has_more:
                coming = fetcher.submit(api.pull, page.cursor, PULL_PAGE)
            with Ctx(runtime, None).uow() as uow:
                if page.changes:
                    foreign_keys_off(uow.session.connection())
                    _apply_page(uow, page.changes, report)
                _set(uow.session.connection(), CURSOR, str(page.cursor))
                uow.commit()
            cursor = page.cursor
            if progress:
                progress("pull", report.pulled)
            if not page.has_more:
                break
    report.cursor = cursor


# --- the round -----------------------------------------------------------------------------


def run_once(runtime: ClinicRuntime, api: SyncApi | None = None, progress: Progress | None = None) -> SyncReport:
    """Push then pull until both are done; a refusal or a dropped connection raises SyncFailed."""
    started = time.perf_counter()
    report = SyncReport()
    own_client = None
    if api is None:
        own_client = cloud.client(cloud.require(runtime))
        api = own_client
    try:
        _push_all(runtime, api, report, progress)
        _pull_all(runtime, api, report, progress)
        _record_round(runtime, report)
        # last, so the cloud also gets the round's own audit event
        report.audit_sent = sync_audit.push(runtime, api)
    except CloudError as exc:
        raise SyncFailed(exc.message, offline=isinstance(exc, CloudUnreachable)) from None
    finally:
        if own_client is not None:
            own_client.close()
    report.seconds = time.perf_counter() - started
    return report


def _record_round(runtime: ClinicRuntime, report: SyncReport) -> None:
    with Ctx(runtime, None).uow() as uow:
        _set(uow.session.connection(), LAST_OK, rows.stamp(utcnow()))
        if report.pushed or report.pulled or report.conflicts:
            counts = {"pushed": report.pushed, "pulled": report.pulled, "conflicts": len(report.conflicts)}
            _audit(uow, "sync.round", counts)
        uow.commit()


@dataclass(frozen=True)
class SyncStatus:
    enrolled: bool
    pending: int  # rows changed here and not yet accepted by the cloud
    conflicts: int  # unresolved
    last_ok: datetime | None
    audit_unsent: int = 0  # audit events the cloud has not acknowledged (sync_audit)


def status(runtime: ClinicRuntime) -> SyncStatus:
    with runtime.engine.connect() as conn:
        pending = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM (SELECT DISTINCT table_name, row_id FROM change_log WHERE pushed_at IS NULL)"
        ).scalar()
        conflicts = conn.exec_driver_sql("SELECT COUNT(*) FROM sync_conflict WHERE resolved_at IS NULL").scalar()
        last_ok = _setting(conn, LAST_OK)
        enrolled = _setting(conn, cloud.URL) is not None
        audit_unsent = sync_audit.unsent(conn) if enrolled else 0
    return SyncStatus(
        enrolled=enrolled,
        pending=int(pending or 0),
        conflicts=int(conflicts or 0),
        last_ok=datetime.fromisoformat(last_ok) if last_ok else None,
        audit_unsent=audit_unsent,
    )


def queue_everything(runtime: ClinicRuntime) -> int:
    """Mark every row of this clinic to be pushed (an existing clinic's first enrolment)."""
    with Ctx(runtime, None).uow() as uow:
        conn = uow.session.connection()
        now = rows.stamp(utcnow())
        conn.exec_driver_sql("UPDATE change_log SET pushed_at = ? WHERE pushed_at IS NULL", (now,))
        total = 0
        for table in rows.synced_tables():
            result = conn.exec_driver_sql(
                "INSERT INTO change_log (table_name, row_id, operation, row_version, changed_at) "
                f"SELECT ?, id, 'insert', version, updated_at FROM \"{table}\"",
                (table,),
            )
            total += result.rowcount
        _set(conn, CURSOR, "0")
        _set(conn, OUTBOX, None)
        _audit(uow, "sync.queued_all", {"rows": total})
        uow.commit()
    return total


def connect_clinic(runtime: ClinicRuntime, url: str, code: str, *, ca_bundle: str | None = None) -> bool:
    """Enrol this workstation's clinic; True when this is its first time in the cloud (push it all)."""
    before = cloud.read_settings(runtime, cloud.CLOUD_CLINIC).get(cloud.CLOUD_CLINIC)
    config = cloud.enrol(runtime, url, code, ca_bundle=ca_bundle)
    if before == config.cloud_clinic_id:
        return False  # enrolled again (say after a revocation): what is pending still goes
    with cloud.client(config) as api:
        try:
            already = api.pull(0, 1).changes
        except CloudError as exc:
            raise SyncFailed(exc.message, offline=isinstance(exc, CloudUnreachable)) from None
    if already:
        cloud.forget(runtime)
        raise UserError(
            "That cloud clinic already holds a clinic's records. To add this computer to it, use "
            "'chairside cloud join' into an empty folder; to connect this clinic, ask for a code "
            "of a new cloud clinic."
        )
    queue_everything(runtime)
    backup_schedule.take_nightly_if_unset(runtime)
    return True
