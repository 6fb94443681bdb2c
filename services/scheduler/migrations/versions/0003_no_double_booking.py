"""no double booking: exclusion constraints on PostgreSQL

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 06:30:00

Two active appointments (booked, confirmed, checked in) of one practitioner, or of one client,
may not overlap in time. PostgreSQL enforces it with exclusion constraints over
tstzrange(starts_at, ends_at) (half-open, so back-to-back sessions are fine), which needs the
btree_gist extension for the equality part. SQLite has no such constraint: there every write
transaction starts with BEGIN IMMEDIATE (shared/db.py), so the scheduler's check-then-insert
runs one transaction at a time and is just as safe.
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ACTIVE = "status IN ('booked', 'confirmed', 'checked_in')"
CONSTRAINTS = {
    "ex_appointment_practitioner_overlap": "practitioner_id",
    "ex_appointment_client_overlap": "client_id",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    for name, column in CONSTRAINTS.items():
        op.execute(
            f"ALTER TABLE appointment ADD CONSTRAINT {name} EXCLUDE USING gist "
            f"({column} WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) WHERE ({ACTIVE})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in CONSTRAINTS:
        op.execute(f"ALTER TABLE appointment DROP CONSTRAINT IF EXISTS {name}")
