"""client locale: the CLDR locale in which messages show dates and times

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 07:30:38
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing clients get en_US, the wording's language until now.
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locale", sa.String(length=20), server_default="en_US", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_column("locale")
