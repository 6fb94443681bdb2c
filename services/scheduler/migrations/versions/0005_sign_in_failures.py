"""sign-in failures: the limit on failed sign-ins, shared by every web process

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:40:00
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failure",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failure")),
    )
    op.create_index("ix_sign_in_failure_key_at", "sign_in_failure", ["key", "failed_at"])


def downgrade() -> None:
    op.drop_index("ix_sign_in_failure_key_at", table_name="sign_in_failure")
    op.drop_table("sign_in_failure")
