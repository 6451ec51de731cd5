"""The sync wire format, shared by the workstation's client and the cloud service.

The shape follows WatermelonDB's sync protocol so standard clients can talk to the service:

- pull: ``GET /v1/sync/pull?cursor=N`` returns the changes made since the server's change
  sequence ``N`` as ``{table: {created: [row], updated: [row], deleted: [id]}}`` and the new
  cursor. The cursor is the server's own per-clinic change sequence, never a wall clock.
  Pages hold at most ``limit`` rows; while ``has_more`` is true, pull again from the cursor
  returned. Rows the calling workstation pushed itself are not sent back to it.
- push: ``POST /v1/sync/push`` sends local changes in the same shape with the cursor last
  pulled and a ``push_id`` made once per batch. Sending the same ``push_id`` again (a retry
  after a lost reply) changes nothing and returns the first reply.

A row is a JSON object with at least ``id`` (text) and ``version`` (the workstation's
optimistic-lock counter). Every request carries the client's database schema in the
``X-Chairside-Schema`` header; a client whose schema differs from ``SCHEMA_VERSION`` gets
HTTP 426 with a message to upgrade, and nothing is applied.

Conflict rules (applied by the server, one push in one transaction):

- patient rows (``FIELD_MERGE_TABLES``) merge field by field, last writer wins per field.
  A pushed patient row may carry ``_field_versions``: ``{field: ISO-8601 UTC time of its last
  local write}``. When the server's row was changed by another workstation since the
  client's ``last_pulled_cursor``, each field takes the value with the later time (an exact
  tie keeps the server's value); fields the client did not list keep the server's value.
  A row pushed without ``_field_versions`` counts every field as written at its
  ``updated_at``. The merged row gets a version above both and goes to every workstation.
- other tables: a pushed row whose ``version`` is higher than the server's wins; the same
  or an older version is reported back as a ``Conflict`` with the server's row, for a
  person to resolve. Pushing a row identical to the server's is a harmless no-op.
- deletions are tombstones: the row stays on the server, flagged deleted, and travels in
  ``deleted``. An update pushed for a row deleted on the server is a conflict.
- appointment rows that would be stored are checked for overlaps: a booking on the book
  (not deleted, not on the pinboard, with a time, status scheduled, confirmed, arrived,
  seated or completed) may not share any time, half-open ``[starts_at, ends_at)``, with
  another of the same provider, operatory or patient. The one that would overlap is not
  stored and comes back as an ``overlap`` conflict whose ``server_row`` is the booking
  holding the time.

Audit events (``POST /v1/audit/events``) travel on their own, in the order of the
workstation's hash chain (``sync.audit_chain``): each carries the fields its hash covers.
The cloud keeps them append-only. It refuses, storing none of the request, an event whose
hash does not match its fields or that differs from the copy it holds (HTTP 422), and an
event whose predecessor it does not hold (HTTP 409: send the chain again from its start;
events it holds already are skipped).
"""

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# the client database's Alembic head (app/db/migrations/versions); bump it with every
# client migration, since a row's columns are what the schema says they are
SCHEMA_VERSION = "0007"
SCHEMA_HEADER = "X-Chairside-Schema"

# tables whose rows merge field by field instead of conflicting as a whole
FIELD_MERGE_TABLES = frozenset({"patient"})
FIELD_VERSIONS_KEY = "_field_versions"

REVOKED_MESSAGE = "This workstation's access was revoked by the clinic; ask your administrator to enrol it again."


def instant(value: object) -> datetime | None:
    """A row's ISO-8601 time as an aware UTC instant (a time without a zone is UTC, as stored);
    None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

Row = dict[str, Any]


def _checked_row(row: Row) -> Row:
    if not isinstance(row.get("id"), str) or not 0 < len(row["id"]) <= 64:
        raise ValueError("every row needs an 'id' (text of 1 to 64 characters)")
    version = row.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version < 2**62:
        raise ValueError("every row needs a 'version' (a whole number, 0 or more)")
    return row


def _checked_changes(changes: dict[str, "TableChanges"]) -> dict[str, "TableChanges"]:
    for table in changes:
        if not _TABLE_NAME.match(table):
            raise ValueError(f"not a table name: {table[:70]!r}")
    return changes


SyncedRow = Annotated[Row, AfterValidator(_checked_row)]
RowId = Annotated[str, Field(min_length=1, max_length=64)]


class TableChanges(BaseModel):
    """The changes to one table: whole rows created or updated, ids deleted."""

    created: list[SyncedRow] = Field(default_factory=list)
    updated: list[SyncedRow] = Field(default_factory=list)
    deleted: list[RowId] = Field(default_factory=list)


Changes = Annotated[dict[str, TableChanges], AfterValidator(_checked_changes)]


class PullResponse(BaseModel):
    changes: Changes
    cursor: int
    # the server's client schema (Alembic revision text, e.g. "0005")
    schema_version: str = Field(alias="schema")
    has_more: bool = False

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class PushRequest(BaseModel):
    push_id: Annotated[str, Field(min_length=8, max_length=64)]
    last_pulled_cursor: Annotated[int, Field(ge=0)]
    changes: Changes


ConflictReason = Literal["version_not_newer", "deleted_on_server", "overlap"]


class Conflict(BaseModel):
    """A pushed row the server did not take; the workstation shows it to a person."""

    table: str
    row_id: str
    reason: ConflictReason
    message: str
    server_row: Row | None = None


class PushResponse(BaseModel):
    applied: int
    conflicts: list[Conflict] = Field(default_factory=list)
    # the server's change sequence after this push; keep pulling from the cursor last pulled
    # (your own pushed rows are not sent back), this is for progress and diagnostics
    cursor: int


class EnrolRequest(BaseModel):
    code: Annotated[str, Field(min_length=1, max_length=64)]
    device_name: Annotated[str, Field(min_length=1, max_length=200)]


class EnrolResponse(BaseModel):
    token: str
    device_id: str
    clinic_id: str
    clinic_name: str


AUDIT_BATCH = 2_000


class AuditEventIn(BaseModel):
    """One link of a workstation's audit chain; `fields` are exactly what its hash covers."""

    seq: Annotated[int, Field(ge=1)]
    prev_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    fields: dict[str, str | None]


class AuditPush(BaseModel):
    events: Annotated[list[AuditEventIn], Field(min_length=1, max_length=AUDIT_BATCH)]


class AuditPushed(BaseModel):
    stored: int  # new to the cloud
    known: int  # held already (a resend)


class SyncApi(Protocol):
    """What a workstation can ask of the cloud: implemented by the HTTP client and the server."""

    def pull(self, cursor: int, limit: int | None = None) -> PullResponse: ...

    def push(self, request: PushRequest) -> PushResponse: ...

    def push_audit(self, request: AuditPush) -> AuditPushed: ...
