"""check-in window: how long before a session the desk may check the client in

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 05:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("practice", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("check_in_opens_minutes", sa.Integer(), server_default="60", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("practice", schema=None) as batch_op:
        batch_op.drop_column("check_in_opens_minutes")
