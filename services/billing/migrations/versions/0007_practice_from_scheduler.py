"""practice from the scheduler: billing's copy of practice.updated remembers its revision

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("billing_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("practice_revision", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_settings", schema=None) as batch_op:
        batch_op.drop_column("practice_revision")
