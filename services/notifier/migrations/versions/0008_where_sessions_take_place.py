"""where sessions take place: the location and video join link messages and invites carry

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 05:25:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Filled in by each appointment's next event.
    with op.batch_alter_table("appointment_view", schema=None) as batch_op:
        batch_op.add_column(sa.Column("location", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("video_url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("appointment_view", schema=None) as batch_op:
        batch_op.drop_column("video_url")
        batch_op.drop_column("location")
