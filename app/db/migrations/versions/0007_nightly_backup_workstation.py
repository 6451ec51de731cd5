"""Which workstation takes the clinic's nightly backup, clinic-wide (it syncs with the clinic).

clinic.nightly_backup_by: a workstation id; '' when an administrator turned it off for every
workstation; NULL when never chosen (then each workstation's older local setting decides).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clinic") as batch:
        batch.add_column(sa.Column("nightly_backup_by", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clinic") as batch:
        batch.drop_column("nightly_backup_by")
