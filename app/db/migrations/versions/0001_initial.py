"""Clinic, staff, patients, audit chain, change log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def sync_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deleted_at", sa.String(32)),
    ]


def upgrade() -> None:
    op.create_table(
        "clinic",
        *sync_columns(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("phone_region", sa.String(2), nullable=False),
        sa.Column("date_order", sa.String(3), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
    )
    op.create_table(
        "staff_user",
        *sync_columns(),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.String(32)),
        sa.Column("licence_no", sa.String(64), nullable=False),
        sa.Column("provider_colour", sa.String(9), nullable=False),
        sa.Column("password_changed_at", sa.String(32)),
    )
    op.create_table(
        "patient",
        *sync_columns(),
        sa.Column("chart_no", sa.String(32), nullable=False, unique=True),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("preferred_name", sa.String(100), nullable=False),
        sa.Column("middle_name", sa.String(100), nullable=False),
        sa.Column("date_of_birth", sa.String(10), nullable=False),
        sa.Column("sex", sa.String(16), nullable=False),
        sa.Column("gender_identity", sa.String(64), nullable=False),
        sa.Column("mobile_phone", sa.String(20), nullable=False),
        sa.Column("home_phone", sa.String(20), nullable=False),
        sa.Column("work_phone", sa.String(20), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("address_line1", sa.String(200), nullable=False),
        sa.Column("address_line2", sa.String(200), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("region", sa.String(100), nullable=False),
        sa.Column("postal_code", sa.String(20), nullable=False),
        sa.Column("country", sa.String(100), nullable=False),
        sa.Column("preferred_contact", sa.String(16), nullable=False),
        sa.Column("consent_sms", sa.Boolean, nullable=False),
        sa.Column("consent_email", sa.Boolean, nullable=False),
        sa.Column("guarantor_id", sa.String(36), sa.ForeignKey("patient.id")),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("archived_at", sa.String(32)),
    )
    for table in ("clinic", "staff_user", "patient"):
        op.create_index(f"ix_{table}_updated_at", table, ["updated_at"])
    op.create_index("ix_patient_last_name", "patient", ["last_name"])
    op.create_index("ix_patient_date_of_birth", "patient", ["date_of_birth"])
    op.create_index("ix_patient_guarantor_id", "patient", ["guarantor_id"])
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("occurred_at", sa.String(32), nullable=False),
        sa.Column("workstation_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36)),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(36), nullable=False),
        sa.Column("patient_id", sa.String(36)),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_event_occurred_at", "audit_event", ["occurred_at"])
    op.create_index("ix_audit_event_user_id", "audit_event", ["user_id"])
    op.create_index("ix_audit_event_patient_id", "audit_event", ["patient_id"])
    op.create_index("ix_audit_event_action", "audit_event", ["action"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "change_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("row_id", sa.String(36), nullable=False),
        sa.Column("operation", sa.String(8), nullable=False),
        sa.Column("row_version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.String(32), nullable=False),
        sa.Column("pushed_at", sa.String(32)),
    )
    op.create_index("ix_change_log_pushed_at", "change_log", ["pushed_at"])
    op.create_table(
        "local_setting",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "local_setting",
        "change_log",
        "audit_head",
        "audit_event",
        "patient",
        "staff_user",
        "clinic",
    ):
        op.drop_table(table)
