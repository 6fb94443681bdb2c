"""check-ins: the practice's check-in questions and safety net, and clients' enrolments

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 09:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "check_in_settings",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("crisis_words", sa.Text(), nullable=False),
        sa.Column("safety_message", sa.Text(), nullable=True),
        sa.Column("questions", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_in_settings")),
    )
    op.create_table(
        "check_in_enrolment",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("schedule", sa.String(length=20), nullable=False),
        sa.Column("local_time", sa.String(length=8), nullable=False),
        sa.Column("weekdays", sa.String(length=20), nullable=False),
        sa.Column("days_after", sa.Integer(), nullable=True),
        sa.Column("until", sa.String(length=20), nullable=False),
        sa.Column("until_date", sa.Date(), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_check_in_enrolment_client_id_client")
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioner.id"],
            name=op.f("fk_check_in_enrolment_practitioner_id_practitioner"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_in_enrolment")),
        sa.UniqueConstraint("client_id", name=op.f("uq_check_in_enrolment_client_id")),
    )


def downgrade() -> None:
    op.drop_table("check_in_enrolment")
    op.drop_table("check_in_settings")
