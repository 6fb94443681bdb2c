"""self-service links: one secret page per session for the client, and whether the practice
lets clients cancel through it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "self_service_link",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("appointment_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("reschedule_asked_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointment.id"],
            name=op.f("fk_self_service_link_appointment_id_appointment"),
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_self_service_link")),
    )
    with op.batch_alter_table("self_service_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_self_service_link_appointment_id"), ["appointment_id"], unique=False
        )
    with op.batch_alter_table("practice", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "client_cancellation", sa.Boolean(), server_default=sa.true(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("practice", schema=None) as batch_op:
        batch_op.drop_column("client_cancellation")
    with op.batch_alter_table("self_service_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_self_service_link_appointment_id"))
    op.drop_table("self_service_link")
