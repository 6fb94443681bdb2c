"""sandbox calendar: the sandbox keeps the .ics that would have been sent, for the desk to see

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sandbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("calendar", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sandbox_message", schema=None) as batch_op:
        batch_op.drop_column("calendar")
