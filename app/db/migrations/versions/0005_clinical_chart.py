"""Clinical chart: procedure catalogue, chart entries, treatment plans and insurance benefits,
perio exams, note templates, clinical notes with procedures and addenda; the clinic's tooth
numbering and probing path.

Signed notes, their addenda and completed perio exams are immutable: triggers refuse any
change, so no code path (or sync bug) can alter a signed clinical record.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

IMMUTABLE = {
    "clinical_note_signed_no_update": "BEFORE UPDATE ON clinical_note WHEN OLD.signed_at IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'signed note is immutable'); END",
    "clinical_note_signed_no_delete": "BEFORE DELETE ON clinical_note WHEN OLD.signed_at IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'signed note is immutable'); END",
    "note_addendum_no_update": "BEFORE UPDATE ON note_addendum BEGIN SELECT RAISE(ABORT, 'addendum is immutable'); END",
    "note_addendum_no_delete": "BEFORE DELETE ON note_addendum BEGIN SELECT RAISE(ABORT, 'addendum is immutable'); END",
    "note_procedure_signed_no_insert": "BEFORE INSERT ON note_procedure "
    "WHEN (SELECT signed_at FROM clinical_note WHERE id = NEW.note_id) IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'signed note is immutable'); END",
    "note_procedure_signed_no_update": "BEFORE UPDATE ON note_procedure "
    "WHEN (SELECT signed_at FROM clinical_note WHERE id = OLD.note_id) IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'signed note is immutable'); END",
    "perio_exam_completed_no_update": "BEFORE UPDATE ON perio_exam WHEN OLD.status = 'completed' "
    "BEGIN SELECT RAISE(ABORT, 'completed perio exam is locked'); END",
    "perio_exam_completed_no_delete": "BEFORE DELETE ON perio_exam WHEN OLD.status = 'completed' "
    "BEGIN SELECT RAISE(ABORT, 'completed perio exam is locked'); END",
}

TABLES = (
    "note_addendum",
    "note_procedure",
    "clinical_note",
    "note_template",
    "perio_exam",
    "insurance_benefits",
    "treatment_plan_item",
    "treatment_plan",
    "chart_entry",
    "procedure_code",
)


def upgrade() -> None:
    op.create_table(
        "procedure_code",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("fee_cents", sa.Integer(), nullable=False),
        sa.Column("area", sa.String(length=16), nullable=False),
        sa.Column("surfaces_required", sa.Integer(), nullable=False),
        sa.Column("draw", sa.String(length=24), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("procedure_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_procedure_code_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "insurance_benefits",
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("coverage", sa.Text(), nullable=False),
        sa.Column("deductible_cents", sa.Integer(), nullable=False),
        sa.Column("deductible_met_cents", sa.Integer(), nullable=False),
        sa.Column("annual_max_cents", sa.Integer(), nullable=False),
        sa.Column("max_used_cents", sa.Integer(), nullable=False),
        sa.Column("year_start", sa.String(length=10), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("insurance_benefits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_insurance_benefits_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_insurance_benefits_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "note_template",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("appointment_type_id", sa.String(length=36), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
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
    )
    with op.batch_alter_table("note_template", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_note_template_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "perio_exam",
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("exam_date", sa.String(length=10), nullable=False),
        sa.Column("provider_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("readings", sa.Text(), nullable=False),
        sa.Column("completed_at", sa.String(length=32), nullable=True),
        sa.Column("completed_by", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["completed_by"],
            ["staff_user.id"],
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
    with op.batch_alter_table("perio_exam", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_perio_exam_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_perio_exam_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "treatment_plan",
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("option_group", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_on", sa.String(length=10), nullable=False),
        sa.Column("accepted_on", sa.String(length=10), nullable=True),
        sa.Column("declined_on", sa.String(length=10), nullable=True),
        sa.Column("completed_on", sa.String(length=10), nullable=True),
        sa.Column("status_reason", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("treatment_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_treatment_plan_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_treatment_plan_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "chart_entry",
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("draw", sa.String(length=24), nullable=False),
        sa.Column("tooth", sa.String(length=2), nullable=True),
        sa.Column("surfaces", sa.String(length=5), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fee_cents", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(length=36), nullable=True),
        sa.Column("entry_date", sa.String(length=10), nullable=False),
        sa.Column("completed_at", sa.String(length=32), nullable=True),
        sa.Column("appointment_id", sa.String(length=36), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("removed_reason", sa.String(length=200), nullable=False),
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
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("chart_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chart_entry_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chart_entry_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "clinical_note",
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("appointment_id", sa.String(length=36), nullable=True),
        sa.Column("visit_date", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.String(length=36), nullable=False),
        sa.Column("signed_at", sa.String(length=32), nullable=True),
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
            ["author_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("clinical_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clinical_note_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_clinical_note_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "note_addendum",
        sa.Column("note_id", sa.String(length=36), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.String(length=36), nullable=False),
        sa.Column("signed_at", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["note_id"],
            ["clinical_note.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("note_addendum", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_note_addendum_note_id"), ["note_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_note_addendum_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "note_procedure",
        sa.Column("note_id", sa.String(length=36), nullable=False),
        sa.Column("chart_entry_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["chart_entry_id"],
            ["chart_entry.id"],
        ),
        sa.ForeignKeyConstraint(
            ["note_id"],
            ["clinical_note.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("note_procedure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_note_procedure_note_id"), ["note_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_note_procedure_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "treatment_plan_item",
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("chart_entry_id", sa.String(length=36), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["chart_entry_id"],
            ["chart_entry.id"],
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["treatment_plan.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("treatment_plan_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_treatment_plan_item_chart_entry_id"), ["chart_entry_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_treatment_plan_item_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_treatment_plan_item_updated_at"), ["updated_at"], unique=False)

    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tooth_numbering", sa.String(length=16), server_default="universal", nullable=False)
        )
        batch_op.add_column(sa.Column("probing_path", sa.String(length=32), server_default="s-curve", nullable=False))

    for name, sql in IMMUTABLE.items():
        op.execute(f"CREATE TRIGGER {name} {sql}")


def downgrade() -> None:
    for name in IMMUTABLE:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table in TABLES:
        op.drop_table(table)
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.drop_column("probing_path")
        batch_op.drop_column("tooth_numbering")
