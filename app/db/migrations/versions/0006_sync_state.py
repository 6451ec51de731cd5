"""Sync state: which fields each change touched, the conflicts list, and sync's trigger pass.

- change_log.changed_fields: the columns an update wrote (JSON list; NULL for an insert),
  so a pushed patient row claims only the fields this workstation changed (field merge).
- sync_conflict: a pushed or pulled row a person must look at (kept until resolved).
- sync_applying: holds one row only inside the transaction that applies pulled rows. The
  overlap and signed-note triggers stand aside then: the cloud's rows are already checked
  (its exclusion constraint, its immutability), and a signed note's procedure links may
  arrive after the note. No other connection ever sees the row (it is never committed).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ACTIVE = "('scheduled', 'confirmed', 'arrived', 'seated', 'completed')"
NOT_SYNCING = "NOT EXISTS (SELECT 1 FROM sync_applying)"


def _overlap(check_sync: bool) -> str:
    guard = f"AND {NOT_SYNCING}" if check_sync else ""
    return f"""
    SELECT RAISE(ABORT, 'appointment overlap')
    WHERE NEW.deleted_at IS NULL AND NEW.on_pinboard = 0 AND NEW.starts_at IS NOT NULL
      AND NEW.status IN {ACTIVE} {guard}
      AND EXISTS (
        SELECT 1 FROM appointment a
        WHERE a.id != NEW.id AND a.deleted_at IS NULL AND a.on_pinboard = 0
          AND a.status IN {ACTIVE}
          AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at
          AND (a.provider_id = NEW.provider_id OR a.patient_id = NEW.patient_id
               OR (NEW.operatory_id IS NOT NULL AND a.operatory_id = NEW.operatory_id))
      );
"""


def _note_link(row: str, check_sync: bool) -> str:
    guard = f" AND {NOT_SYNCING}" if check_sync else ""
    return (
        f"WHEN (SELECT signed_at FROM clinical_note WHERE id = {row}.note_id) IS NOT NULL{guard} "
        "BEGIN SELECT RAISE(ABORT, 'signed note is immutable'); END"
    )


def _triggers(check_sync: bool) -> dict[str, str]:
    return {
        "appointment_no_overlap_insert": f"BEFORE INSERT ON appointment BEGIN {_overlap(check_sync)} END",
        "appointment_no_overlap_update": f"BEFORE UPDATE ON appointment BEGIN {_overlap(check_sync)} END",
        "note_procedure_signed_no_insert": f"BEFORE INSERT ON note_procedure {_note_link('NEW', check_sync)}",
        "note_procedure_signed_no_update": f"BEFORE UPDATE ON note_procedure {_note_link('OLD', check_sync)}",
    }


def _replace_triggers(check_sync: bool) -> None:
    for name, sql in _triggers(check_sync).items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"CREATE TRIGGER {name} {sql}")


def upgrade() -> None:
    with op.batch_alter_table("change_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("changed_fields", sa.Text(), nullable=True))
    op.create_table(
        "sync_conflict",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("local_row", sa.Text(), nullable=True),
        sa.Column("server_row", sa.Text(), nullable=True),
        sa.Column("detected_at", sa.String(length=32), nullable=False),
        sa.Column("resolved_at", sa.String(length=32), nullable=True),
        sa.Column("resolution", sa.String(length=32), nullable=False, server_default=""),
        sa.Column("resolved_by", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sync_conflict_open", "sync_conflict", ["resolved_at", "detected_at"])
    op.create_table(
        "sync_applying", sa.Column("active", sa.Integer(), nullable=False), sa.PrimaryKeyConstraint("active")
    )
    _replace_triggers(check_sync=True)


def downgrade() -> None:
    _replace_triggers(check_sync=False)
    op.drop_table("sync_applying")
    op.drop_index("ix_sync_conflict_open", table_name="sync_conflict")
    op.drop_table("sync_conflict")
    with op.batch_alter_table("change_log", schema=None) as batch_op:
        batch_op.drop_column("changed_fields")
