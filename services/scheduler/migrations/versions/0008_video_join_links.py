"""video join links: a practitioner's standing video room and a session's own join link

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 05:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("practitioner", schema=None) as batch_op:
        batch_op.add_column(sa.Column("video_room_url", sa.String(length=500), nullable=True))
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("video_url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.drop_column("video_url")
    with op.batch_alter_table("practitioner", schema=None) as batch_op:
        batch_op.drop_column("video_room_url")
