"""Deployments remember a pending Airflow upgrade or image deploy (Houston's ``desiredAirflowVersion``), the
custom image one runs, and why the last upgrade failed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 11:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable without defaults: existing rows have nothing pending and run the platform's image of their version.
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("desired_airflow_version", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("image", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("desired_image", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("rollout_phase", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("rollout_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        for column in ("rollout_error", "rollout_phase", "desired_image", "image", "desired_airflow_version"):
            batch_op.drop_column(column)
