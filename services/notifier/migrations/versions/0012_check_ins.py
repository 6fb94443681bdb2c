"""check-ins: the practice's safety net, enrolments, check-in messages and their answers, the
practitioners' inbox, and the audit of every read of an answer

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id"], unique=False)
    op.create_table(
        "check_in_settings",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("crisis_words", sa.JSON(), nullable=False),
        sa.Column("safety_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_in_settings")),
    )
    op.create_table(
        "check_in_enrolment",
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("enrolment_id", sa.String(length=36), nullable=False),
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
        sa.Column("paused_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_check_in_enrolment")),
    )
    op.create_table(
        "check_in",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("sent_at", WHEN, nullable=True),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("recipient", sa.String(length=20), nullable=True),
        sa.Column("answered_at", WHEN, nullable=True),
        sa.Column("trigger_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_in")),
        sa.UniqueConstraint("trigger_id", name=op.f("uq_check_in_trigger_id")),
    )
    op.create_index("ix_check_in_due", "check_in", ["status", "due_at"], unique=False)
    op.create_index(op.f("ix_check_in_client_id"), "check_in", ["client_id"], unique=False)
    op.create_index(op.f("ix_check_in_recipient"), "check_in", ["recipient"], unique=False)
    op.create_table(
        "check_in_answer",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("check_in_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("inbound_id", sa.String(length=36), nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_in_answer")),
        sa.UniqueConstraint("inbound_id", name=op.f("uq_check_in_answer_inbound_id")),
    )
    op.create_index(
        op.f("ix_check_in_answer_check_in_id"), "check_in_answer", ["check_in_id"], unique=False
    )
    op.create_index(
        op.f("ix_check_in_answer_client_id"), "check_in_answer", ["client_id"], unique=False
    )
    op.create_table(
        "practitioner_inbox_item",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("inbound_id", sa.String(length=36), nullable=False),
        sa.Column("check_in_id", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("handled_at", WHEN, nullable=True),
        sa.Column("handled_by", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practitioner_inbox_item")),
        sa.UniqueConstraint("inbound_id", "kind", name="uq_practitioner_inbox_reply"),
    )
    op.create_index(
        op.f("ix_practitioner_inbox_item_practitioner_id"),
        "practitioner_inbox_item",
        ["practitioner_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("practitioner_inbox_item")
    op.drop_table("check_in_answer")
    op.drop_table("check_in")
    op.drop_table("check_in_enrolment")
    op.drop_table("check_in_settings")
    op.drop_table("audit_log")
