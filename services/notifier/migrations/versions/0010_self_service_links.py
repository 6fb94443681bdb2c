"""self-service links: the secret of each session's page, which its messages link to

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty for sessions projected before; their next event carries it.
    with op.batch_alter_table("appointment_view", schema=None) as batch_op:
        batch_op.add_column(sa.Column("self_service_token", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("appointment_view", schema=None) as batch_op:
        batch_op.drop_column("self_service_token")
