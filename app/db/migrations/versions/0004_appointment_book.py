"""Appointment book: locations, operatories, hours, blocks, appointment types, appointments,
visit workflow, recalls, reminder rules and the message outbox.

The overlap rule (no two active appointments for one provider, operatory or patient) is
also enforced by triggers, so no code path can store a double booking.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# statuses that hold their slot; cancelled, no-show and broken visits free it
ACTIVE = "('scheduled', 'confirmed', 'arrived', 'seated', 'completed')"

OVERLAP_CHECK = f"""
    SELECT RAISE(ABORT, 'appointment overlap')
    WHERE NEW.deleted_at IS NULL AND NEW.on_pinboard = 0 AND NEW.starts_at IS NOT NULL
      AND NEW.status IN {ACTIVE}
      AND EXISTS (
        SELECT 1 FROM appointment a
        WHERE a.id != NEW.id AND a.deleted_at IS NULL AND a.on_pinboard = 0
          AND a.status IN {ACTIVE}
          AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at
          AND (a.provider_id = NEW.provider_id OR a.patient_id = NEW.patient_id
               OR (NEW.operatory_id IS NOT NULL AND a.operatory_id = NEW.operatory_id))
      );
"""


def upgrade() -> None:
    op.create_table(
        "appointment_type",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("default_minutes", sa.Integer(), nullable=False),
        sa.Column("colour", sa.String(length=9), nullable=False),
        sa.Column("default_procedures", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appointment_type", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appointment_type_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "location",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("grid_minutes", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("location", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_location_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "outbox_message",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("queue", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.String(length=32), nullable=False),
        sa.Column("claimed_until", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_message_next_attempt_at"), ["next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_message_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_message_queue"), ["queue"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_message_status"), ["status"], unique=False)

    op.create_table(
        "reminder_rule",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("template_key", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reminder_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminder_rule_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "hours_exception",
        sa.Column("location_id", sa.String(length=36), nullable=False),
        sa.Column("provider_id", sa.String(length=36), nullable=True),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("start_local", sa.String(length=5), nullable=True),
        sa.Column("end_local", sa.String(length=5), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["location.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hours_exception", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hours_exception_location_id"), ["location_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hours_exception_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hours_exception_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "operatory",
        sa.Column("location_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["location.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("operatory", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_operatory_location_id"), ["location_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_operatory_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "recall_type",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("interval_months", sa.Integer(), nullable=False),
        sa.Column("appointment_type_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_type_id"],
            ["appointment_type.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("recall_type", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recall_type_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "weekly_hours",
        sa.Column("location_id", sa.String(length=36), nullable=False),
        sa.Column("provider_id", sa.String(length=36), nullable=True),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_local", sa.String(length=5), nullable=False),
        sa.Column("end_local", sa.String(length=5), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["location.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("weekly_hours", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_weekly_hours_location_id"), ["location_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_weekly_hours_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_weekly_hours_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "appointment",
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("provider_id", sa.String(length=36), nullable=False),
        sa.Column("operatory_id", sa.String(length=36), nullable=True),
        sa.Column("location_id", sa.String(length=36), nullable=False),
        sa.Column("appointment_type_id", sa.String(length=36), nullable=True),
        sa.Column("starts_at", sa.String(length=32), nullable=True),
        sa.Column("ends_at", sa.String(length=32), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("cancel_reason", sa.String(length=200), nullable=False),
        sa.Column("outside_hours_reason", sa.String(length=200), nullable=False),
        sa.Column("on_pinboard", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_type_id"],
            ["appointment_type.id"],
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["location.id"],
        ),
        sa.ForeignKeyConstraint(
            ["operatory_id"],
            ["operatory.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.create_index("ix_appointment_operatory_start", ["operatory_id", "starts_at"], unique=False)
        batch_op.create_index("ix_appointment_patient_start", ["patient_id", "starts_at"], unique=False)
        batch_op.create_index("ix_appointment_provider_start", ["provider_id", "starts_at"], unique=False)
        batch_op.create_index("ix_appointment_starts_at", ["starts_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_appointment_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "patient_recall",
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("recall_type_id", sa.String(length=36), nullable=False),
        sa.Column("last_completed", sa.String(length=10), nullable=True),
        sa.Column("due_date", sa.String(length=10), nullable=True),
        sa.Column("contacted_at", sa.String(length=32), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recall_type_id"],
            ["recall_type.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("patient_recall", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_recall_due_date"), ["due_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_patient_recall_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_patient_recall_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "schedule_block",
        sa.Column("location_id", sa.String(length=36), nullable=False),
        sa.Column("provider_id", sa.String(length=36), nullable=True),
        sa.Column("operatory_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("starts_at", sa.String(length=32), nullable=True),
        sa.Column("ends_at", sa.String(length=32), nullable=True),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("start_local", sa.String(length=5), nullable=True),
        sa.Column("end_local", sa.String(length=5), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["location.id"],
        ),
        sa.ForeignKeyConstraint(
            ["operatory_id"],
            ["operatory.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("schedule_block", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_block_location_id"), ["location_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedule_block_operatory_id"), ["operatory_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedule_block_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedule_block_starts_at"), ["starts_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedule_block_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "appointment_status_change",
        sa.Column("appointment_id", sa.String(length=36), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.String(length=36), nullable=True),
        sa.Column("changed_at", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointment.id"],
        ),
        sa.ForeignKeyConstraint(
            ["changed_by"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appointment_status_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appointment_status_change_appointment_id"), ["appointment_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_appointment_status_change_updated_at"), ["updated_at"], unique=False)

    op.execute(f"CREATE TRIGGER appointment_no_overlap_insert BEFORE INSERT ON appointment BEGIN {OVERLAP_CHECK} END")
    op.execute(f"CREATE TRIGGER appointment_no_overlap_update BEFORE UPDATE ON appointment BEGIN {OVERLAP_CHECK} END")
    op.execute(
        "CREATE TRIGGER appointment_ends_after_start BEFORE INSERT ON appointment "
        "WHEN NEW.starts_at IS NOT NULL AND NEW.ends_at <= NEW.starts_at "
        "BEGIN SELECT RAISE(ABORT, 'appointment ends before it starts'); END"
    )

    op.execute(
        "CREATE TRIGGER appointment_ends_after_start_update BEFORE UPDATE ON appointment "
        "WHEN NEW.starts_at IS NOT NULL AND NEW.ends_at <= NEW.starts_at "
        "BEGIN SELECT RAISE(ABORT, 'appointment ends before it starts'); END"
    )


def downgrade() -> None:
    for trigger in (
        "appointment_no_overlap_insert",
        "appointment_no_overlap_update",
        "appointment_ends_after_start",
        "appointment_ends_after_start_update",
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for table in (
        "outbox_message",
        "reminder_rule",
        "patient_recall",
        "recall_type",
        "appointment_status_change",
        "appointment",
        "appointment_type",
        "schedule_block",
        "hours_exception",
        "weekly_hours",
        "operatory",
        "location",
    ):
        op.drop_table(table)
