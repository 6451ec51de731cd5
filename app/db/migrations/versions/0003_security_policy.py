"""Clinic-wide security policy: idle lock and sign-in lock-out.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clinic") as batch:
        batch.add_column(sa.Column("idle_lock_minutes", sa.Integer, nullable=False, server_default="15"))
        batch.add_column(sa.Column("max_failed_logins", sa.Integer, nullable=False, server_default="5"))
        batch.add_column(sa.Column("lockout_minutes", sa.Integer, nullable=False, server_default="15"))


def downgrade() -> None:
    with op.batch_alter_table("clinic") as batch:
        batch.drop_column("lockout_minutes")
        batch.drop_column("max_failed_logins")
        batch.drop_column("idle_lock_minutes")
