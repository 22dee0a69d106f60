"""Read types returned by the services: frozen snapshots, safe to use after the transaction ended.

Input is plain keyword arguments of the service functions; these are the outputs. Times are aware UTC datetimes
(format them with ``.isoformat()`` / RFC 3339 at the edge). Ids are strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airpool.domain import dags
from airpool.domain.deployments import DeploymentStatus, Executor
from airpool.domain.pool import NamespaceState
from airpool.store import models


@dataclass(frozen=True)
class UserView:
    id: str
    username: str
    full_name: str
    status: str
    is_system_admin: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: models.User) -> UserView:
        return cls(
            id=row.id,
            username=row.username,
            full_name=row.full_name,
            status=row.status,
            is_system_admin=row.is_system_admin,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class WorkspaceView:
    id: str
    label: str
    description: str
    created_at: datetime
    updated_at: datetime
    #: The caller's role in it ("admin" | "editor" | "viewer"), None for a system admin without a binding.
    role: str | None = None

    @classmethod
    def of(cls, row: models.Workspace, role: str | None) -> WorkspaceView:
        return cls(
            id=row.id,
            label=row.label,
            description=row.description,
            created_at=row.created_at,
            updated_at=row.updated_at,
            role=role,
        )


@dataclass(frozen=True)
class RoleBindingView:
    workspace_id: str
    user_id: str
    username: str
    role: str


@dataclass(frozen=True)
class DeploymentUrl:
    type: str  # "airflow" | "flower"
    url: str


@dataclass(frozen=True)
class DeploymentView:
    id: str
    label: str
    description: str
    release_name: str
    executor: Executor
    airflow_version: str
    namespace: str
    workspace_id: str
    status: DeploymentStatus
    status_message: str
    urls: tuple[DeploymentUrl, ...]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    #: After a delete request: True hard, False soft; None while live.
    hard_delete: bool | None = None
    #: Soft delete: when the namespace and data are finally released.
    releases_at: datetime | None = None
    #: How DAGs arrive: image-based (the default) or an NFS export.
    dag_deployment: dags.DagDeploy = dags.IMAGE
    #: Components a user resized (``domain.sizes``: component -> ``as_config``); the rest use the defaults.
    config: dict[str, Any] = field(default_factory=dict)
    #: A pending upgrade's version (Houston's ``desiredAirflowVersion``), else None.
    desired_airflow_version: str | None = None
    #: The image of the last image deploy; None: the platform's image of ``airflow_version``.
    image: str | None = None
    #: An image deploy not rolled out yet.
    desired_image: str | None = None
    #: ``domain.rollouts.RolloutPhase`` value while a rollout is pending, else None.
    rollout_phase: str | None = None
    #: Why the last upgrade or image deploy failed (the old version kept running).
    rollout_error: str | None = None

    @classmethod
    def of(cls, row: models.Deployment) -> DeploymentView:
        return cls(
            id=row.id,
            label=row.label,
            description=row.description,
            release_name=row.release_name,
            executor=Executor(row.executor),
            airflow_version=row.airflow_version,
            namespace=row.namespace,
            workspace_id=row.workspace_id,
            status=DeploymentStatus(row.status),
            status_message=row.status_message,
            urls=tuple(DeploymentUrl(type=u["type"], url=u["url"]) for u in row.urls),
            created_at=row.created_at,
            updated_at=row.updated_at,
            deleted_at=row.deleted_at,
            hard_delete=row.hard_delete,
            releases_at=row.releases_at,
            dag_deployment=dags.from_payload(row.dag_deployment),
            config=dict(row.config or {}),
            desired_airflow_version=row.desired_airflow_version,
            image=row.image,
            desired_image=row.desired_image,
            rollout_phase=row.rollout_phase,
            rollout_error=row.rollout_error,
        )


@dataclass(frozen=True)
class NamespaceView:
    """One pool namespace as an admin sees it (``pool.status``)."""

    name: str
    state: NamespaceState
    holder_id: str | None
    holder_release_name: str | None
    in_config: bool
    state_since: datetime
    releases_at: datetime | None
    health_reason: str
    holder_label: str | None = None
    holder_workspace_id: str | None = None
    holder_workspace_label: str | None = None


@dataclass(frozen=True)
class PoolCounts:
    """Namespaces per state, every state present (zero when empty)."""

    by_state: dict[NamespaceState, int]
    #: When the next retained namespace returns to the pool, if any.
    next_release_at: datetime | None = None

    def __getitem__(self, state: NamespaceState) -> int:
        return self.by_state.get(state, 0)


@dataclass(frozen=True)
class NamespacePage:
    """One page of ``pool.status_page``: the rows, how many rows the filter matched, and the whole pool's counts."""

    total: int
    namespaces: tuple[NamespaceView, ...]
    counts: PoolCounts


@dataclass(frozen=True)
class JobView:
    id: int
    kind: str
    deployment_id: str | None
    namespace: str | None
    payload: dict[str, Any]
    state: str
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    run_after: datetime
    last_error: str
    created_at: datetime
    finished_at: datetime | None

    @property
    def reason(self) -> str:
        """Why an upgrade job runs, in words ("settings changed: executor CeleryExecutor", "environment variables
        changed", "upgrade to Airflow 3.3.2", "deploy of image ..."); empty for other jobs."""
        return str(self.payload.get("reason", ""))

    @classmethod
    def of(cls, row: models.CommanderJob) -> JobView:
        return cls(
            id=row.id,
            kind=row.kind,
            deployment_id=row.deployment_id,
            namespace=row.namespace,
            payload=dict(row.payload),
            state=row.state,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            lease_owner=row.lease_owner,
            lease_expires_at=row.lease_expires_at,
            run_after=row.run_after,
            last_error=row.last_error,
            created_at=row.created_at,
            finished_at=row.finished_at,
        )


@dataclass(frozen=True)
class LeasedJob:
    """A job a commander worker now owns until ``lease_expires_at`` (renew with ``commander_jobs.heartbeat``)."""

    job: JobView
    #: Snapshot of the Deployment the job is about (None for namespace-only jobs or a finalized Deployment).
    deployment: DeploymentView | None = None


@dataclass(frozen=True)
class AuditEventView:
    id: int
    at: datetime
    actor: str
    action: str
    target_kind: str
    target_id: str
    workspace_id: str | None
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: models.AuditEvent) -> AuditEventView:
        return cls(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            target_kind=row.target_kind,
            target_id=row.target_id,
            workspace_id=row.workspace_id,
            detail=dict(row.detail),
        )


@dataclass(frozen=True)
class BindingView:
    """One role binding as Houston shows it: a role (Houston's name, ``WORKSPACE_ADMIN``) held by a user, a
    service account or a team, in the system, a workspace or a Deployment."""

    id: str
    role: str
    user_id: str | None = None
    username: str | None = None
    service_account_id: str | None = None
    service_account_label: str | None = None
    team_id: str | None = None
    team_name: str | None = None
    workspace_id: str | None = None
    deployment_id: str | None = None
    service_account: ServiceAccountView | None = None


@dataclass(frozen=True)
class MemberView(UserView):
    """A user with the role bindings the caller may see (their workspaces and Deployments)."""

    role_bindings: tuple[BindingView, ...] = ()


@dataclass(frozen=True)
class ServiceAccountView:
    id: str
    label: str
    category: str
    role: str
    workspace_id: str | None
    deployment_id: str | None
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
    #: Only right after creation: the key itself, never stored and never shown again.
    api_key: str | None = None

    @property
    def entity_type(self) -> str:
        return "DEPLOYMENT" if self.deployment_id else "WORKSPACE"

    @property
    def entity_uuid(self) -> str | None:
        return self.deployment_id or self.workspace_id


@dataclass(frozen=True)
class TeamView:
    id: str
    name: str
    source: str
    created_at: datetime
    updated_at: datetime
    role_bindings: tuple[BindingView, ...] = ()
    member_count: int = 0
