"""replies answer messages: which SMS asked the client to confirm, and when a reply answered it

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Messages sent before this knew nothing of it: none of them counts as an open question,
    # so a reply to one falls back to the client's next session, as before.
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("asks_confirmation", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_message_recipient"), ["recipient"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_recipient"))
        batch_op.drop_column("answered_at")
        batch_op.drop_column("asks_confirmation")
