"""practitioner client access: whether practitioners see every client, and the practitioner a
client is assigned to

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("practice", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "practitioners_see_all", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("assigned_practitioner_id", sa.String(length=36), nullable=True)
        )
        batch_op.create_foreign_key(
            op.f("fk_client_assigned_practitioner_id_practitioner"),
            "practitioner",
            ["assigned_practitioner_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("fk_client_assigned_practitioner_id_practitioner"), type_="foreignkey"
        )
        batch_op.drop_column("assigned_practitioner_id")
    with op.batch_alter_table("practice", schema=None) as batch_op:
        batch_op.drop_column("practitioners_see_all")
