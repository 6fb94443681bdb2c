"""client locale and session time zone: dates and times in messages follow the client's
CLDR locale, and show the practice's clock when it differs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 07:32:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Clients already projected get en_US until their next client.updated carries a locale.
    with op.batch_alter_table("client_contact", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locale", sa.String(length=20), server_default="en_US", nullable=False)
        )
    # Where the session takes place; filled in by each appointment's next event.
    with op.batch_alter_table("appointment_view", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("appointment_view", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
    with op.batch_alter_table("client_contact", schema=None) as batch_op:
        batch_op.drop_column("locale")
