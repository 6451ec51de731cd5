"""Synced rows as they travel: read and written raw, exactly as stored.

Both ends of a sync run the same schema (the service refuses any other), so a row is sent as
its stored column values (ISO text times, 0/1 booleans) and written back the same way: no
type conversion to get wrong, and a first sync of a whole clinic is a bulk insert.
Writes here bypass the ORM, so they never enter the change log: pulled rows are not pushed
back. What this workstation itself changes goes through `log_change`.
"""

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection

from app.db.models import Base, Synced
from app.db.types import utcnow

Row = dict[str, Any]
_IN_CHUNK = 500


@cache
def synced_tables() -> tuple[str, ...]:
    """Every synced table, parents before children (the order rows are pushed and applied)."""
    synced = {m.class_.__tablename__ for m in Base.registry.mappers if issubclass(m.class_, Synced)}  # type: ignore[attr-defined]
    return tuple(t.name for t in Base.metadata.sorted_tables if t.name in synced)


@cache
def columns(table: str) -> tuple[str, ...]:
    return tuple(c.name for c in Base.metadata.tables[table].columns)


def stamp(moment: datetime) -> str:
    """A time as the database stores it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), _IN_CHUNK):
        yield ids[start : start + _IN_CHUNK]


def read(conn: Connection, table: str, ids: Sequence[str]) -> dict[str, Row]:
    """The stored rows of `table` with these ids, by id."""
    cols = columns(table)
    found: dict[str, Row] = {}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        result = conn.exec_driver_sql(f'SELECT {",".join(cols)} FROM "{table}" WHERE id IN ({marks})', tuple(chunk))
        for values in result:
            row = dict(zip(cols, values, strict=True))
            found[row["id"]] = row
    return found


def versions(conn: Connection, table: str, ids: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        result = conn.exec_driver_sql(f'SELECT id, version FROM "{table}" WHERE id IN ({marks})', tuple(chunk))
        found.update({row[0]: row[1] for row in result})
    return found


def upsert(conn: Connection, table: str, rows: Sequence[Row]) -> None:
    """Insert or replace whole rows; keys that are not columns here (e.g. `_field_versions`) are dropped."""
    if not rows:
        return
    cols = columns(table)
    updates = ",".join(f"{c}=excluded.{c}" for c in cols if c != "id")
    sql = (
        f'INSERT INTO "{table}" ({",".join(cols)}) VALUES ({",".join("?" * len(cols))}) '
        f"ON CONFLICT(id) DO UPDATE SET {updates}"
    )
    conn.exec_driver_sql(sql, [tuple(row.get(c) for c in cols) for row in rows])


def tombstone(conn: Connection, table: str, ids: Sequence[str]) -> None:
    now = stamp(utcnow())
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        conn.exec_driver_sql(
            f'UPDATE "{table}" SET deleted_at = ? WHERE deleted_at IS NULL AND id IN ({marks})', (now, *chunk)
        )


def log_change(conn: Connection, table: str, row_id: str, version: int, fields: list[str] | None) -> None:
    """A change this workstation made outside the ORM (a conflict resolved here), to be pushed."""
    conn.exec_driver_sql(
        "INSERT INTO change_log (table_name, row_id, operation, row_version, changed_at, changed_fields) "
        "VALUES (?, ?, 'update', ?, ?, ?)",
        (table, row_id, version, stamp(utcnow()), None if fields is None else json.dumps(fields)),
    )


def write_local(conn: Connection, table: str, row: Row, fields: list[str] | None = None) -> int:
    """Store `row` as this workstation's own newer version (logged for the next push); its version."""
    current = versions(conn, table, [row["id"]]).get(row["id"], 0)
    version = max(current, int(row.get("version") or 0)) + 1
    stored = {**row, "version": version, "updated_at": stamp(utcnow())}
    upsert(conn, table, [stored])
    log_change(conn, table, row["id"], version, fields)
    return version
