"""Pull and push for one workstation of one clinic: the server side of `sync.protocol.SyncApi`.

Every query is bound to the workstation's clinic, so no request reaches another clinic's
rows: a row id pushed by clinic B names B's row, even if clinic A has a row with that id.

A push runs in one transaction holding the clinic's row lock: the clinic's change sequence
(`Clinic.last_seq`) grows in commit order, so a pull that reads the sequence first and then
the rows up to it can never step over a change that commits later with a smaller number.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from sync.protocol import (
    FIELD_MERGE_TABLES,
    FIELD_VERSIONS_KEY,
    SCHEMA_VERSION,
    AuditPush,
    AuditPushed,
    Conflict,
    ConflictReason,
    PullResponse,
    PushRequest,
    PushResponse,
    Row,
    SyncApi,
    TableChanges,
    instant,
)
from sync.server.models import Clinic, PushReceipt, SyncRow, utcnow
from sync.server.services import ServiceError, audit_trail
from sync.server.services.bookings import APPOINTMENT_TABLE, Bookings, BookingsChanged

# keys the merge never treats as clinical fields
_BOOKKEEPING = frozenset({"id", "version", FIELD_VERSIONS_KEY})
_IN_CHUNK = 500


class PushIdReused(ServiceError):
    pass


class PushRetry(ServiceError):
    """Nothing was applied; the same push sent again will be checked afresh."""


def _instant(value: object) -> datetime:
    """An ISO-8601 time as an aware instant; anything unreadable counts as the oldest time."""
    return instant(value) or datetime.min.replace(tzinfo=UTC)


def _field_times(row: Row) -> dict[str, Any]:
    """When each field of `row` was written: its `_field_versions`, else its `updated_at` for all."""
    times = row.get(FIELD_VERSIONS_KEY)
    if isinstance(times, dict):
        return times
    stamp = row.get("updated_at")
    return {field: stamp for field in row if field not in _BOOKKEEPING}


def merge_fields(server: Row, pushed: Row) -> Row:
    """Field-by-field merge, last writer wins per field; an exact tie keeps the server's value."""
    server_times = server.get(FIELD_VERSIONS_KEY) if isinstance(server.get(FIELD_VERSIONS_KEY), dict) else {}
    server_default = server.get("updated_at")
    pushed_times = _field_times(pushed)
    merged = dict(server)
    merged_times = dict(server_times or {})
    for field, value in pushed.items():
        if field in _BOOKKEEPING:
            continue
        if field not in server:
            merged[field] = value
            if field in pushed_times:
                merged_times[field] = pushed_times[field]
            continue
        if field not in pushed_times:
            continue  # not written by the pushing workstation: its value is a stale copy
        if _instant(pushed_times[field]) > _instant((server_times or {}).get(field, server_default)):
            merged[field] = value
            merged_times[field] = pushed_times[field]
    if "updated_at" in merged or "updated_at" in pushed:
        merged["updated_at"] = max(server.get("updated_at"), pushed.get("updated_at"), key=_instant)
    merged[FIELD_VERSIONS_KEY] = merged_times
    return merged


def _fast_forward_times(server: Row, pushed: Row) -> dict[str, Any]:
    """The field times after a plain overwrite: the server's, with the pushed fields' newer times."""
    times = dict(server.get(FIELD_VERSIONS_KEY) or {})
    if isinstance(pushed.get(FIELD_VERSIONS_KEY), dict):
        times.update(pushed[FIELD_VERSIONS_KEY])
    else:
        stamp = pushed.get("updated_at")
        times.update({f: stamp for f, v in pushed.items() if f not in _BOOKKEEPING and server.get(f) != v})
    return times


def _without(row: Row, *keys: str) -> Row:
    return {k: v for k, v in row.items() if k not in keys}


def _request_digest(request: PushRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class ClinicSync:
    """`SyncApi` for one enrolled workstation, over a session it does not own."""

    def __init__(
        self,
        session: Session,
        clinic_id: str,
        device_id: str,
        max_page_rows: int = 2_000,
        seq_at_auth: int | None = None,
    ) -> None:
        """`seq_at_auth`: the clinic's change sequence as read with the caller's token, which
        a pull takes as its head (the no-change poll then costs one query)."""
        self.session = session
        self.clinic_id = clinic_id
        self.device_id = device_id
        self.max_page_rows = max_page_rows
        self.seq_at_auth = seq_at_auth

    # pull

    def pull(self, cursor: int, limit: int | None = None) -> PullResponse:
        """Changes after `cursor` by other workstations (or merged here), oldest first, one page."""
        limit = min(limit or self.max_page_rows, self.max_page_rows)
        # the head is read before the rows: nothing at or below it can still be uncommitted
        head = self.seq_at_auth
        if head is None:
            head = self.session.scalar(select(Clinic.last_seq).where(Clinic.id == self.clinic_id)) or 0
        if cursor > head:
            # a cursor this clinic never handed out (the service was restored from an older
            # backup): start again from the beginning rather than miss anything
            cursor = 0
        if cursor == head:
            # nothing new: the common case of a workstation polling, answered without the rows query
            return self.no_change(head)
        rows = list(
            self.session.scalars(
                select(SyncRow)
                .where(
                    SyncRow.clinic_id == self.clinic_id,
                    SyncRow.server_seq > cursor,
                    SyncRow.server_seq <= head,
                    or_(SyncRow.changed_by.is_(None), SyncRow.changed_by != self.device_id),
                )
                .order_by(SyncRow.server_seq)
                .limit(limit + 1)
            )
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
        changes: dict[str, TableChanges] = {}
        for row in rows:
            table = changes.setdefault(row.table_name, TableChanges())
            if row.deleted:
                table.deleted.append(row.row_id)
            elif row.created_seq > cursor:
                table.created.append(self._wire_row(row))
            else:
                table.updated.append(self._wire_row(row))
        return PullResponse(
            changes=changes, cursor=rows[-1].server_seq if has_more else head, schema=SCHEMA_VERSION, has_more=has_more
        )

    @staticmethod
    def no_change(head: int) -> PullResponse:
        return PullResponse(changes={}, cursor=head, schema=SCHEMA_VERSION, has_more=False)

    @staticmethod
    def _wire_row(row: SyncRow) -> Row:
        return {**row.data, "id": row.row_id, "version": row.version}

    # push

    def push_audit(self, request: AuditPush) -> AuditPushed:
        """Append the workstation's audit events (audit_trail.append)."""
        return audit_trail.append(self.session, self.clinic_id, self.device_id, request)

    def push(self, request: PushRequest) -> PushResponse:
        """Apply a push in one transaction; the same push_id again returns the first reply."""
        digest = _request_digest(request)
        earlier = self._receipt(request.push_id)
        if earlier is not None:
            return self._replay(earlier, digest)
        # serialises this clinic's pushes: sequence numbers commit in order, conflicts are exact
        if self.session.get_bind().dialect.name == "sqlite":
            # SQLite has no row locks: a no-op write takes the database's write lock instead
            self.session.execute(update(Clinic).where(Clinic.id == self.clinic_id).values(last_seq=Clinic.last_seq))
        clinic = self.session.scalars(select(Clinic).where(Clinic.id == self.clinic_id).with_for_update()).one()
        earlier = self._receipt(request.push_id)  # a twin of this push may have committed meanwhile
        if earlier is not None:
            self.session.rollback()
            return self._replay(earlier, digest)
        applier = _Applier(self, clinic.last_seq, request.last_pulled_cursor)
        for table, table_changes in request.changes.items():
            existing = self._existing(table, table_changes)
            if table == APPOINTMENT_TABLE:
                applier.bookings.look_up([*table_changes.created, *table_changes.updated])
            # the new rows are written together at the end, not one by one before each booking check
            with self.session.no_autoflush:
                for row in [*table_changes.created, *table_changes.updated]:
                    applier.upsert(table, row, existing)
                for row_id in table_changes.deleted:
                    applier.delete(table, row_id, existing)
        try:
            applier.bookings.flush()
        except BookingsChanged:
            self.session.rollback()
            raise PushRetry(
                "The appointment book changed while this push was being checked; nothing was applied. "
                "The workstation will send it again."
            ) from None
        clinic.last_seq = applier.seq
        response = PushResponse(applied=applier.applied, conflicts=applier.conflicts, cursor=applier.seq)
        self.session.add(
            PushReceipt(
                clinic_id=self.clinic_id,
                push_id=request.push_id,
                device_id=self.device_id,
                request_sha256=digest,
                response=response.model_dump(mode="json"),
                created_at=utcnow(),
            )
        )
        self.session.commit()
        return response

    def _receipt(self, push_id: str) -> PushReceipt | None:
        return self.session.scalars(
            select(PushReceipt).where(PushReceipt.clinic_id == self.clinic_id, PushReceipt.push_id == push_id)
        ).one_or_none()

    @staticmethod
    def _replay(receipt: PushReceipt, digest: str) -> PushResponse:
        if receipt.request_sha256 != digest:
            raise PushIdReused(
                "This push id was already used for different changes; nothing was applied. "
                "Send new changes under a new push id."
            )
        return PushResponse.model_validate(receipt.response)

    def _existing(self, table: str, changes: TableChanges) -> dict[str, SyncRow]:
        ids = list(
            dict.fromkeys([*(r["id"] for r in changes.created), *(r["id"] for r in changes.updated), *changes.deleted])
        )
        found: dict[str, SyncRow] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            for row in self.session.scalars(
                select(SyncRow).where(
                    SyncRow.clinic_id == self.clinic_id, SyncRow.table_name == table, SyncRow.row_id.in_(chunk)
                )
            ):
                found[row.row_id] = row
        return found


class _Applier:
    """Applies one push's rows, numbering each stored change and collecting conflicts."""

    def __init__(self, sync: ClinicSync, seq: int, last_pulled_cursor: int) -> None:
        self.session = sync.session
        self.clinic_id = sync.clinic_id
        self.device_id = sync.device_id
        self.seq = seq
        self.last_pulled_cursor = last_pulled_cursor
        self.applied = 0
        self.conflicts: list[Conflict] = []
        self.bookings = Bookings(sync.session, sync.clinic_id)

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _conflict(self, table: str, row_id: str, reason: ConflictReason, message: str, current: SyncRow) -> None:
        server_row = ClinicSync._wire_row(current)
        if current.deleted:
            server_row["_deleted"] = True
        self.conflicts.append(
            Conflict(table=table, row_id=row_id, reason=reason, message=message, server_row=server_row)
        )

    def _changed_elsewhere(self, current: SyncRow) -> bool:
        """Whether another workstation changed the row after the pusher last pulled."""
        return current.server_seq > self.last_pulled_cursor and current.changed_by != self.device_id

    def _admit(self, table: str, row: Row, existing: dict[str, SyncRow], *, new: bool = False) -> bool:
        """Whether a row about to be stored may be: a booking takes its time, or is refused as overlapping."""
        if table != APPOINTMENT_TABLE:
            return True
        clash = self.bookings.reserve(row, new=new)
        if clash is None:
            return True
        holder = (
            existing.get(clash.row_id)
            or self.session.scalars(
                select(SyncRow).where(
                    SyncRow.clinic_id == self.clinic_id,
                    SyncRow.table_name == APPOINTMENT_TABLE,
                    SyncRow.row_id == clash.row_id,
                )
            ).one()
        )
        self._conflict(table, row["id"], "overlap", clash.message(), holder)
        return False

    def upsert(self, table: str, row: Row, existing: dict[str, SyncRow]) -> None:
        row_id: str = row["id"]
        current = existing.get(row_id)
        now = utcnow()
        if current is None:
            if self._admit(table, row, existing, new=True):
                existing[row_id] = self._insert(table, row_id, dict(row), row["version"], deleted=False)
                self.applied += 1
            return
        if current.deleted:
            self._conflict(
                table, row_id, "deleted_on_server", "This record was deleted on another workstation.", current
            )
            return
        if _without(current.data, "version") == _without(row, "version") and row["version"] <= current.version:
            self.applied += 1  # already the server's state (a resend): nothing to store
            return
        if table in FIELD_MERGE_TABLES:
            if row["version"] > current.version and not self._changed_elsewhere(current):
                data = {**row, FIELD_VERSIONS_KEY: _fast_forward_times(current.data, row)}
                self._store(current, data, row["version"], self.device_id, now)
            else:
                merged = merge_fields(current.data, row)
                if _without(merged, "version") != _without(current.data, "version"):
                    # above both versions, and sent to every workstation including the pusher
                    version = max(current.version, row["version"]) + 1
                    self._store(current, merged, version, None, now)
            self.applied += 1
            return
        if row["version"] > current.version:
            if self._admit(table, row, existing):
                self._store(current, dict(row), row["version"], self.device_id, now)
                self.applied += 1
            return
        self._conflict(
            table,
            row_id,
            "version_not_newer",
            f"Another workstation saved version {current.version} of this record first.",
            current,
        )

    def _insert(self, table: str, row_id: str, data: Row, version: int, deleted: bool) -> SyncRow:
        seq = self._next_seq()
        stored = SyncRow(
            clinic_id=self.clinic_id,
            table_name=table,
            row_id=row_id,
            data=data,
            version=version,
            deleted=deleted,
            server_seq=seq,
            created_seq=seq,
            changed_by=self.device_id,
            updated_at=utcnow(),
        )
        self.session.add(stored)
        return stored

    def _store(self, current: SyncRow, data: Row, version: int, changed_by: str | None, now: datetime) -> None:
        current.data = {**data, "version": version}
        current.version = version
        current.server_seq = self._next_seq()
        current.changed_by = changed_by
        current.updated_at = now

    def delete(self, table: str, row_id: str, existing: dict[str, SyncRow]) -> None:
        """A tombstone: the row stays, flagged deleted, and travels as a deletion."""
        current = existing.get(row_id)
        if current is None:
            existing[row_id] = self._insert(table, row_id, {"id": row_id, "version": 0}, 0, deleted=True)
        elif not current.deleted:
            current.deleted = True
            self._store(current, current.data, current.version + 1, self.device_id, utcnow())
            if table == APPOINTMENT_TABLE:
                self.bookings.release(row_id)
        self.applied += 1


# the server side of the one sync interface (checked by mypy, like the HTTP client)
_IMPLEMENTS: type[SyncApi] = ClinicSync
