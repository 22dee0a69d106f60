"""Where running commanders serve Deployment logs to the servers (URL, shared secret, last refresh).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 11:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commander_log_endpoints",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commander_log_endpoints")),
    )
    with op.batch_alter_table("commander_log_endpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_commander_log_endpoints_seen_at"), ["seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("commander_log_endpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commander_log_endpoints_seen_at"))
    op.drop_table("commander_log_endpoints")
