"""git-sync SSH keys and known hosts of Deployments, in a table of their own (never read into a Deployment row,
never returned through the API; commander delivers them as a Kubernetes Secret).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 11:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment_git_credentials",
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("ssh_key", sa.Text(), nullable=False),
        sa.Column("known_hosts", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_git_credentials_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", name=op.f("pk_deployment_git_credentials")),
    )


def downgrade() -> None:
    op.drop_table("deployment_git_credentials")
