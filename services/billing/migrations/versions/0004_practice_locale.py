"""practice locale: amounts and dates on invoices, statements and messages are shown in the
practice's CLDR locale (with its currency)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 04:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("billing_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locale", sa.String(length=20), server_default="en_US", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_settings", schema=None) as batch_op:
        batch_op.drop_column("locale")
