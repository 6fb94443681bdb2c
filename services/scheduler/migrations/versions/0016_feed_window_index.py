"""feed window index: a practitioner's sessions by when they end

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 16:00:00
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_appointment_practitioner_ends", "appointment", ["practitioner_id", "ends_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_appointment_practitioner_ends", table_name="appointment")
