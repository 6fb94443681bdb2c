"""prepaid course packages: a package can be invoiced in full when its course is booked, its
sessions then drawing it down

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fee", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("package_prepaid", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("billing_course", schema=None) as batch_op:
        batch_op.add_column(sa.Column("package_invoice_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("billing_course", schema=None) as batch_op:
        batch_op.drop_column("package_invoice_id")
    with op.batch_alter_table("fee", schema=None) as batch_op:
        batch_op.drop_column("package_prepaid")
