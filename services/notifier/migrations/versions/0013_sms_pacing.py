"""sms pacing: the next instant each sender number may send an SMS, shared by every dispatcher

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_pacing",
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sender", name=op.f("pk_sms_pacing")),
    )


def downgrade() -> None:
    op.drop_table("sms_pacing")
