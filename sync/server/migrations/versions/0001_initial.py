"""Clinics, enrolled devices, one-time enrolment codes, synced rows and push receipts.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "clinic",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clinic"),
    )
    op.create_table(
        "device",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("clinic_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.Column("last_seen_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"], name="fk_device_clinic_id_clinic", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_device"),
        sa.UniqueConstraint("token_hash", name="uq_device_token_hash"),
    )
    op.create_index("ix_device_clinic_id", "device", ["clinic_id"])
    op.create_table(
        "enrol_code",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("clinic_id", sa.String(36), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
        sa.Column("device_id", sa.String(36), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name="fk_enrol_code_clinic_id_clinic", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("code_hash", name="pk_enrol_code"),
    )
    op.create_index("ix_enrol_code_clinic_id", "enrol_code", ["clinic_id"])
    op.create_table(
        "sync_row",
        sa.Column("pk", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(36), nullable=False),
        sa.Column("table_name", sa.String(63), nullable=False),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("data", JSON_DOC, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("server_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.Column("changed_by", sa.String(36), nullable=True),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"], name="fk_sync_row_clinic_id_clinic", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk", name="pk_sync_row"),
        sa.UniqueConstraint("clinic_id", "table_name", "row_id", name="uq_sync_row_clinic_table_row"),
    )
    # pulls read a clinic's rows in change order from a cursor
    op.create_index("ix_sync_row_clinic_seq", "sync_row", ["clinic_id", "server_seq"])
    # the appointment overlap check (a PostgreSQL exclusion constraint on time ranges per
    # provider, operatory and patient) comes in its own revision, over a projection of the
    # appointment rows kept in step with sync_row by the push service
    op.create_table(
        "push_receipt",
        sa.Column("pk", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(36), nullable=False),
        sa.Column("push_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(36), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("response", JSON_DOC, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name="fk_push_receipt_clinic_id_clinic", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name="pk_push_receipt"),
        sa.UniqueConstraint("clinic_id", "push_id", name="uq_push_receipt_clinic_push"),
    )


def downgrade() -> None:
    op.drop_table("push_receipt")
    op.drop_index("ix_sync_row_clinic_seq", table_name="sync_row")
    op.drop_table("sync_row")
    op.drop_index("ix_enrol_code_clinic_id", table_name="enrol_code")
    op.drop_table("enrol_code")
    op.drop_index("ix_device_clinic_id", table_name="device")
    op.drop_table("device")
    op.drop_table("clinic")
