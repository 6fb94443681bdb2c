"""insurance authorizations: a payer's sessions for a client, and the units attended sessions use

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:20:00
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insurance_authorization",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("payer", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=False),
        sa.Column("cpt_codes", sa.Text(), nullable=False),
        sa.Column("sessions_authorized", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("nearing_end_at", shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insurance_authorization")),
    )
    with op.batch_alter_table("insurance_authorization", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_insurance_authorization_client_id"), ["client_id"], unique=False
        )
    op.create_table(
        "authorization_unit",
        sa.Column("appointment_id", sa.String(length=36), nullable=False),
        sa.Column("authorization_id", sa.String(length=36), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("used_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["insurance_authorization.id"],
            name=op.f("fk_authorization_unit_authorization_id_insurance_authorization"),
        ),
        sa.PrimaryKeyConstraint("appointment_id", name=op.f("pk_authorization_unit")),
    )
    with op.batch_alter_table("authorization_unit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_authorization_unit_authorization_id"), ["authorization_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("authorization_unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authorization_unit_authorization_id"))
    op.drop_table("authorization_unit")
    with op.batch_alter_table("insurance_authorization", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_insurance_authorization_client_id"))
    op.drop_table("insurance_authorization")
