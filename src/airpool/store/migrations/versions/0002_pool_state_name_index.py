"""Pool namespaces: one (state, name) index instead of (state), so listing the available ones is index-only.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pool_namespaces", schema=None) as batch_op:
        batch_op.drop_index("ix_pool_namespaces_state")
        batch_op.create_index("ix_pool_namespaces_state_name", ["state", "name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pool_namespaces", schema=None) as batch_op:
        batch_op.drop_index("ix_pool_namespaces_state_name")
        batch_op.create_index("ix_pool_namespaces_state", ["state"], unique=False)
