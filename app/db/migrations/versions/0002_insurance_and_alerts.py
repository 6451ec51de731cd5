"""Patients' insurance plans and medical alerts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _sync_columns() -> list[sa.Column]:
    # each migration owns its copy: a later change to 0001 must not rewrite history here
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deleted_at", sa.String(32)),
    ]


def upgrade() -> None:
    op.create_table(
        "patient_insurance",
        *_sync_columns(),
        sa.Column("patient_id", sa.String(36), sa.ForeignKey("patient.id"), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("carrier", sa.String(200), nullable=False),
        sa.Column("plan_name", sa.String(200), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("subscriber_name", sa.String(200), nullable=False),
        sa.Column("relation", sa.String(16), nullable=False),
    )
    op.create_table(
        "medical_alert",
        *_sync_columns(),
        sa.Column("patient_id", sa.String(36), sa.ForeignKey("patient.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("severe", sa.Boolean, nullable=False),
    )
    for table in ("patient_insurance", "medical_alert"):
        op.create_index(f"ix_{table}_patient_id", table, ["patient_id"])
        op.create_index(f"ix_{table}_updated_at", table, ["updated_at"])


def downgrade() -> None:
    op.drop_table("medical_alert")
    op.drop_table("patient_insurance")
