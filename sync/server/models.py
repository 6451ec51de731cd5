"""Tables of the cloud database. Every row below a clinic carries its clinic (tenant) id."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite
JsonDoc = JSON().with_variant(JSONB(), "postgresql")

# SQLite only auto-numbers a key declared INTEGER PRIMARY KEY
BigId = BigInteger().with_variant(Integer(), "sqlite")

# named constraints, so later migrations can alter them on every backend
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC instant on every backend (SQLite hands back naive datetimes otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is needed")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JsonDoc}


class Clinic(Base):
    __tablename__ = "clinic"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the clinic's change sequence: the last server_seq handed out. Pushes lock this row, so
    # a clinic's changes commit in sequence order and a pull never skips a late commit
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Device(Base):
    """An enrolled workstation; only the SHA-256 of its token is kept."""

    __tablename__ = "device"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]


class EnrolCode(Base):
    """A one-time, expiring enrolment code; only the SHA-256 of the code is kept."""

    __tablename__ = "enrol_code"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    device_id: Mapped[str | None] = mapped_column(String(36))


class SyncRow(Base):
    """The latest state of one synced row of a clinic, with the sequence number of its last change.

    The time an appointment row books is also kept in `AppointmentSlot`, where overlaps are
    refused; the push service stores both in one transaction.
    """

    __tablename__ = "sync_row"
    __table_args__ = (
        UniqueConstraint("clinic_id", "table_name", "row_id", name="uq_sync_row_clinic_table_row"),
        Index("ix_sync_row_clinic_seq", "clinic_id", "server_seq"),
    )
    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    table_name: Mapped[str] = mapped_column(String(63))
    row_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    server_seq: Mapped[int] = mapped_column(BigInteger)
    # the sequence number at which the server first heard of the row: "created" vs "updated"
    created_seq: Mapped[int] = mapped_column(BigInteger)
    # the workstation whose push wrote the current state (None: the server merged it), so a
    # workstation is not sent back its own rows
    changed_by: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppointmentSlot(Base):
    """The time a booked appointment holds for one of its provider, operatory (chair) and patient.

    Kept in step with the appointment's `SyncRow` by the push service, which refuses a booking
    that overlaps another. On PostgreSQL the generated `during` range and an exclusion
    constraint refuse overlaps in the database too; SQLite has neither (migration 0002).
    """

    __tablename__ = "appointment_slot"
    __table_args__ = (
        Column("during", TSTZRANGE(), Computed("tstzrange(starts_at, ends_at, '[)')", persisted=True)),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_appointment_slot_resource", "clinic_id", "resource", "resource_id", "starts_at"),
        ExcludeConstraint(
            ("clinic_id", "="),
            ("resource", "="),
            ("resource_id", "="),
            ("during", "&&"),
            name="ex_appointment_slot_overlap",
            using="gist",
        ).ddl_if(dialect="postgresql"),
    )
    # the database fills `during`, the service never reads it, and SQLite has no such column
    __mapper_args__ = {"exclude_properties": ["during"]}
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"), primary_key=True)
    row_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(16), primary_key=True)  # provider, operatory, patient
    resource_id: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]


class PushReceipt(Base):
    """The reply to a push, kept so a retried push_id gets the same reply and changes nothing."""

    __tablename__ = "push_receipt"
    __table_args__ = (UniqueConstraint("clinic_id", "push_id", name="uq_push_receipt_clinic_push"),)
    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    push_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(36))
    # SHA-256 of the request body: the same push_id with other changes is refused, not ignored
    request_sha256: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """One link of a workstation's audit hash chain, as the workstation sent it. Append-only:
    triggers refuse UPDATE and DELETE (migration 0003), and `chairside-cloud audit verify`
    checks every hash and link.

    A chain is found by its links (each `prev_hash` is the `hash` of the event before), not by
    workstation: a workstation restored from a backup continues its chain from where the
    backup ends, a fork the cloud keeps whole.
    """

    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("clinic_id", "hash", name="uq_audit_event_clinic_hash"),)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workstation_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # exactly the fields the hash covers (who, when, what); never logged
    fields: Mapped[dict[str, Any]]
    # the enrolled device that sent it
    device_id: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
