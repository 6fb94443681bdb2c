"""course messages: one confirmation or notice for several sessions of a course, with the
sessions it speaks of

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 04:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.add_column(sa.Column("course_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("sessions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_column("sessions")
        batch_op.drop_column("course_id")
