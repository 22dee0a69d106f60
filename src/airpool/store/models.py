"""The tables. Changing anything here needs a new migration in ``migrations/versions`` (one history, both DBs).

Design notes:

- ids are UUID strings (the astro CLI decodes ids as strings) except for append-only tables (jobs, audit), which
  use integers so their order is the insertion order.
- ``pool_namespaces.version`` grows on every state change, so a compare-and-set can also guard against an ABA
  change between a read and a write.
- ``deployments.active_namespace`` is set while a Deployment occupies its namespace (until commander confirms the
  namespace is clean) and NULL afterwards; its unique index is the last line of defence against two Deployments
  in one namespace, in every mode (pool, free-form, derived).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from airpool.store.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), nullable=False, default=utcnow)


def _updated() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(255), unique=True, nullable=False)
    full_name: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    is_system_admin: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(sa.String(32), nullable=False, default="active")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class RoleBinding(Base):
    """A user's role in a workspace: admin, editor or viewer (``services.auth.Role``)."""

    __tablename__ = "role_bindings"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    created_at: Mapped[datetime] = _created()


class ApiToken(Base):
    """A long-lived token for automation; only the SHA-256 of the secret is stored (it has 256 bits of entropy)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    label: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuthSession(Base):
    """One log-in (``createToken``, sign-up, the UI's log-in form): its signed token names this row, so logging out
    or revoking it ends the token on every replica before its signature expires."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failed log-ins per account (``user:<name>``) and per client address (``client:<addr>``), shared by every
    replica: after a few failures the key is blocked for a growing time (``services.auth``)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(sa.String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    release_name: Mapped[str] = mapped_column(sa.String(63), unique=True, nullable=False)
    executor: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    airflow_version: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    namespace: Mapped[str] = mapped_column(sa.String(63), nullable=False, index=True)
    #: The namespace while this Deployment occupies it, NULL once commander confirmed it clean (unique).
    active_namespace: Mapped[str | None] = mapped_column(sa.String(63), unique=True)
    workspace_id: Mapped[str] = mapped_column(sa.ForeignKey("workspaces.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    status_message: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    urls: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, nullable=False, default=list)
    #: How DAGs arrive (``domain.dags`` payload shape, e.g. ``{"type": "nfs", "nfs_location": "h:/p"}``);
    #: NULL = image-based, the default and what every row before migration 0003 had.
    dag_deployment: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    #: Components a user resized (Houston's ``config`` payload, ``domain.sizes.ComponentSize.as_config`` per
    #: component); NULL or a missing component: the installation's defaults (migration 0005).
    config: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    #: Houston's ``desiredAirflowVersion`` while an upgrade is pending or running; NULL when nothing is (0009).
    desired_airflow_version: Mapped[str | None] = mapped_column(sa.String(32))
    #: The image reference of the last image deploy (``updateDeploymentImage``); NULL: the platform's image of
    #: ``airflow_version`` (``airpool.images.airflow``).
    image: Mapped[str | None] = mapped_column(sa.String(512))
    #: An image deploy commander has not rolled out yet.
    desired_image: Mapped[str | None] = mapped_column(sa.String(512))
    #: Where a pending rollout stands (``domain.deployments.RolloutPhase``); NULL: nothing pending.
    rollout_phase: Mapped[str | None] = mapped_column(sa.String(32))
    #: Why the last upgrade or image deploy failed (the old version kept running); NULL after a success.
    rollout_error: Mapped[str | None] = mapped_column(sa.Text)
    #: Set when a delete was requested; the row disappears from users' lists from then on.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    hard_delete: Mapped[bool | None] = mapped_column(sa.Boolean)
    #: Soft delete: when the namespace (and the Deployment's data) are finally released.
    releases_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    healthy_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class PoolNamespace(Base):
    __tablename__ = "pool_namespaces"
    #: availableNamespaces and the claim read "WHERE state = ? ORDER BY name": an index-only, pre-sorted scan.
    __table_args__ = (sa.Index("ix_pool_namespaces_state_name", "state", "name"),)

    name: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    #: No foreign key, so the claim (CAS on this row) can come before the Deployment insert in one transaction.
    holder_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    #: False once the name left the configured pool: a held namespace then retires when released.
    in_config: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    state_since: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    releases_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    health_reason: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = _created()


class CommanderJob(Base):
    __tablename__ = "commander_jobs"
    __table_args__ = (sa.Index("ix_commander_jobs_state_run_after", "state", "run_after"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    #: No foreign key: jobs outlive the Deployment rows they served (history, purge after final cleanup).
    deployment_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    namespace: Mapped[str | None] = mapped_column(sa.String(63))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=5)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    run_after: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_error: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CommanderLogEndpoint(Base):
    """Where a running commander serves Deployment logs to the servers (``services.logs``): its URL and the
    secret a server sends with each request. Each commander process keeps its row fresh; a row not refreshed
    for a while belongs to a commander that is gone and is not used (and is removed by the next registration)."""

    __tablename__ = "commander_log_endpoints"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(1024), nullable=False)
    secret: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, index=True)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    action: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    target_kind: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    target_id: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    workspace_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)


class PlatformSecret(Base):
    """Values generated once per installation (token signing key, first-admin marker), shared by replicas."""

    __tablename__ = "platform_secrets"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime] = _created()


class DeploymentVariable(Base):
    """One environment variable of a Deployment (Houston's ``deploymentVariables``), kept apart from the
    Deployment row so a read of Deployments never carries a secret value; secret values are never returned."""

    __tablename__ = "deployment_variables"
    __table_args__ = (sa.UniqueConstraint("deployment_id", "key"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    key: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    value: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    is_secret: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    updated_at: Mapped[datetime] = _updated()


class DeploymentGitCredentials(Base):
    """A git-sync Deployment's SSH private key and known hosts (empty: none), kept apart from the Deployment row
    so a read of Deployments never carries them; only commander reads them, to render a Kubernetes Secret."""

    __tablename__ = "deployment_git_credentials"

    deployment_id: Mapped[str] = mapped_column(sa.ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True)
    ssh_key: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    known_hosts: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    updated_at: Mapped[datetime] = _updated()


class DeploymentRoleBinding(Base):
    """A user's role on one Deployment (``services.access.DeploymentRole``), on top of their workspace role.

    Only members of the Deployment's workspace hold one; leaving the workspace removes them."""

    __tablename__ = "deployment_role_bindings"
    __table_args__ = (sa.UniqueConstraint("deployment_id", "user_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    created_at: Mapped[datetime] = _created()


class ServiceAccount(Base):
    """A machine identity scoped to one workspace or one Deployment, with exactly one role there.

    Its API key is shown once; only the SHA-256 is kept (the key has 256 bits of entropy). Exactly one of
    ``workspace_id`` / ``deployment_id`` is set; both cascade, so an account never outlives its scope."""

    __tablename__ = "service_accounts"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    category: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    workspace_id: Mapped[str | None] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[str | None] = mapped_column(sa.ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    created_by: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Team(Base):
    """A group of users. ``source`` says who manages it: ``local`` (a system admin) or ``oidc`` (filled from the
    identity provider's groups claim at each login)."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), unique=True, nullable=False)
    source: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="local")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class UserIdentity(Base):
    """A user's account at an OpenID Connect provider: the ID token's ``sub`` at that provider's issuer. Single
    sign-on finds the user by this pair (never by a name or an e-mail the provider may let people change)."""

    __tablename__ = "user_identities"
    __table_args__ = (sa.UniqueConstraint("provider", "subject"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    #: The provider's name in values.yaml (``astronomer.houston.config.auth.openidConnect.<name>``).
    provider: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    issuer: Mapped[str] = mapped_column(sa.String(512), nullable=False)
    created_at: Mapped[datetime] = _created()
    last_login_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = _created()


class TeamRoleBinding(Base):
    """A team's role in the system (``scope`` system, ``scope_id`` ''), a workspace, or a Deployment.

    One role per team and scope; the members hold it as if it were their own (the highest role wins)."""

    __tablename__ = "team_role_bindings"
    __table_args__ = (sa.UniqueConstraint("team_id", "scope", "scope_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    team_id: Mapped[str] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True)
    scope: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    scope_id: Mapped[str] = mapped_column(sa.String(36), nullable=False, index=True)
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    created_at: Mapped[datetime] = _created()
