"""authorization view: the scheduler's copy of clients' insurance authorizations, from billing's
authorization.recorded, for booking warnings

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "authorization_view",
        sa.Column("authorization_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("payer", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=False),
        sa.Column("cpt_codes", sa.Text(), nullable=False),
        sa.Column("sessions_authorized", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("units_used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("authorization_id", name=op.f("pk_authorization_view")),
    )
    with op.batch_alter_table("authorization_view", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_authorization_view_client_id"), ["client_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("authorization_view", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authorization_view_client_id"))
    op.drop_table("authorization_view")
