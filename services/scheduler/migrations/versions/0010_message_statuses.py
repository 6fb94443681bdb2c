"""message statuses: which message went last and how, who confirmed, and reminders that were
not planned because they would already have been due

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 05:35:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reminders_not_planned", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("last_message", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("confirmed_by", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.drop_column("confirmed_by")
        batch_op.drop_column("last_message")
        batch_op.drop_column("reminders_not_planned")
