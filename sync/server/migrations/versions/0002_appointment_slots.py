"""Appointment slots: the time each booking holds per provider, operatory and patient.

On PostgreSQL an exclusion constraint refuses two overlapping slots of one resource; SQLite
has no such constraint, so there the push service's own check is what refuses.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # lets one GiST index compare the text columns with = beside the ranges with &&
        # (a trusted extension: the database owner may create it)
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("clinic_id", sa.String(36), nullable=False),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(16), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("starts_at", WHEN, nullable=False),
        sa.Column("ends_at", WHEN, nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_appointment_slot_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name="fk_appointment_slot_clinic_id_clinic", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("clinic_id", "row_id", "resource", name="pk_appointment_slot"),
    ]
    if postgres:
        columns += [
            # half-open, so a booking may start the moment the one before it ends
            sa.Column(
                "during", postgresql.TSTZRANGE(), sa.Computed("tstzrange(starts_at, ends_at, '[)')", persisted=True)
            ),
            postgresql.ExcludeConstraint(
                ("clinic_id", "="),
                ("resource", "="),
                ("resource_id", "="),
                ("during", "&&"),
                name="ex_appointment_slot_overlap",
                using="gist",
            ),
        ]
    op.create_table("appointment_slot", *columns)
    # the service's overlap query (the only check on SQLite) looks slots up per resource
    op.create_index(
        "ix_appointment_slot_resource", "appointment_slot", ["clinic_id", "resource", "resource_id", "starts_at"]
    )


def downgrade() -> None:
    # btree_gist stays: it may have been there before, and other objects may use it
    op.drop_index("ix_appointment_slot_resource", table_name="appointment_slot")
    op.drop_table("appointment_slot")
