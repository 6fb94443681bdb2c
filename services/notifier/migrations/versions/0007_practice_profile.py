"""practice profile: the practice's name, phone and address from practice.updated, in place
of NOTIFIER_PRACTICE_NAME / NOTIFIER_PRACTICE_PHONE

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "practice_profile",
        sa.Column("practice_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("practice_id", name=op.f("pk_practice_profile")),
    )


def downgrade() -> None:
    op.drop_table("practice_profile")
