"""People and access: Deployment role bindings, service accounts, teams with their members and role bindings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 07:33:01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_members_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_team_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_members")),
    )
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_members_user_id"), ["user_id"], unique=False)

    op.create_table(
        "team_role_bindings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("team_id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_role_bindings_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_role_bindings")),
        sa.UniqueConstraint("team_id", "scope", "scope_id", name=op.f("uq_team_role_bindings_team_id_scope_scope_id")),
    )
    with op.batch_alter_table("team_role_bindings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_role_bindings_scope_id"), ["scope_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_team_role_bindings_team_id"), ["team_id"], unique=False)

    op.create_table(
        "deployment_role_bindings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_role_bindings_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_deployment_role_bindings_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_role_bindings")),
        sa.UniqueConstraint("deployment_id", "user_id", name=op.f("uq_deployment_role_bindings_deployment_id_user_id")),
    )
    with op.batch_alter_table("deployment_role_bindings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployment_role_bindings_deployment_id"), ["deployment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deployment_role_bindings_user_id"), ["user_id"], unique=False)

    op.create_table(
        "service_accounts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=255), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=True),
        sa.Column("deployment_id", sa.String(length=36), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_service_accounts_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_service_accounts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_accounts")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_service_accounts_key_hash")),
    )
    with op.batch_alter_table("service_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_accounts_deployment_id"), ["deployment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_service_accounts_workspace_id"), ["workspace_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("service_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_accounts_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_service_accounts_deployment_id"))

    op.drop_table("service_accounts")
    with op.batch_alter_table("deployment_role_bindings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_role_bindings_user_id"))
        batch_op.drop_index(batch_op.f("ix_deployment_role_bindings_deployment_id"))

    op.drop_table("deployment_role_bindings")
    with op.batch_alter_table("team_role_bindings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_role_bindings_team_id"))
        batch_op.drop_index(batch_op.f("ix_team_role_bindings_scope_id"))

    op.drop_table("team_role_bindings")
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_members_user_id"))

    op.drop_table("team_members")
    op.drop_table("teams")
