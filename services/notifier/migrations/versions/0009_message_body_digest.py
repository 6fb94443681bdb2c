"""message body digest: what settles an SMS left in doubt by a killed worker

A worker killed between marking a message "sending" and recording Twilio's answer leaves it in
doubt; the dispatcher asks Twilio for the messages to that number since then and recognises its
own by the SHA-256 of the body it sent (never the body itself: the log keeps no message text).

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
    # Empty for messages logged before; only messages in doubt are ever looked up by it.
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("body_digest")
