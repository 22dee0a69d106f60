"""Environment variables of Deployments, in a table of their own (secret values never leave it through the API).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment_variables",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("is_secret", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_variables_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_variables")),
        sa.UniqueConstraint("deployment_id", "key", name=op.f("uq_deployment_variables_deployment_id_key")),
    )
    with op.batch_alter_table("deployment_variables", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployment_variables_deployment_id"), ["deployment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deployment_variables", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_variables_deployment_id"))
    op.drop_table("deployment_variables")
