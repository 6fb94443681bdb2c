"""invoice periods and credit lines: sessions are invoiced per client per day or month of the
practice once they are owed, and a late correction is a credit line on a later invoice

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 04:00:00
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period_key", sa.String(length=10), nullable=True))
        batch_op.add_column(
            sa.Column("issue_after", shared.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_invoice_client_id"), ["client_id", "period_key"]
        )
        batch_op.create_index("ix_invoice_due_drafts", ["status", "issue_after"], unique=False)
    with op.batch_alter_table("invoice_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("corrects_line_id", sa.String(length=36), nullable=True))
    with op.batch_alter_table("billed_appointment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
    # A practice keeps what it had: one invoice per booking is now called at_booking; a course's
    # open invoice is gone, so such a practice invoices the sessions a client had, day by day.
    op.execute(
        "UPDATE billing_settings SET invoice_mode = 'at_booking' "
        "WHERE invoice_mode = 'per_session'"
    )
    op.execute(
        "UPDATE billing_settings SET invoice_mode = 'after_session' "
        "WHERE invoice_mode = 'course_open_invoice'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE billing_settings SET invoice_mode = 'per_session' "
        "WHERE invoice_mode IN ('at_booking', 'after_session', 'monthly')"
    )
    with op.batch_alter_table("billed_appointment", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
    with op.batch_alter_table("invoice_line", schema=None) as batch_op:
        batch_op.drop_column("corrects_line_id")
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_index("ix_invoice_due_drafts")
        batch_op.drop_constraint(batch_op.f("uq_invoice_client_id"), type_="unique")
        batch_op.drop_column("issue_after")
        batch_op.drop_column("period_key")
