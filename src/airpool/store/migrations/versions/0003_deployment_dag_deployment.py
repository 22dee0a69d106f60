"""Deployments remember how their DAGs arrive (image or NFS), so upgrades and retries keep it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable without a default: existing rows read as image-based, which is what they were.
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dag_deployment", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("dag_deployment")
