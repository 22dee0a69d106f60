"""Deployments: ``createDeployment``, ``deleteDeployment``, ``workspaceDeployments``, ``paginatedDeployments``;
airpool's ``deletedDeployment(s)``, ``deploymentJobs`` and ``retryDeployment``.

Houston fields the CLI reads but airpool has no separate notion of are fixed here: ``type`` is always
``airflow``, ``version`` is airpool's own (the chart version in Houston), ``runtimeVersion`` is empty (Astro
Runtime images are not used: ``astroRuntimeEnabled`` is false), and ``deployInfo`` names the next image tag.
"""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType, QueryType

import airpool
from airpool.api.resolvers.common import Info, caller, platform
from airpool.api.resolvers.workspaces import WorkspaceRef
from airpool.domain import dags
from airpool.domain.errors import InvalidInput
from airpool.services import commander_jobs, deployments
from airpool.services.views import DeploymentView, JobView

query = QueryType()
mutation = MutationType()
deployment_type = ObjectType("Deployment")

#: Houston calls an NFS DAG deploy ``volume`` (``astro deployment create --dag-deployment-type volume
#: --nfs-location server:/path``); ``nfs`` is accepted as airpool's own name.
_HOUSTON_TYPES = {"volume": dags.DagDeployType.NFS.value}
_HOUSTON_NAMES = {dags.DagDeployType.NFS: "volume", dags.DagDeployType.IMAGE: "image"}
#: Houston's git-sync settings, which airpool has no DAG deploy type for (input keys arrive snake_cased).
_GIT_SYNC_FIELDS = {
    "repository_url": "repositoryUrl",
    "branch_name": "branchName",
    "rev": "rev",
    "dag_directory_location": "dagDirectoryLocation",
    "ssh_key": "sshKey",
    "known_hosts": "knownHosts",
}


def _dag_deployment(given: dict[str, Any] | None) -> dict[str, str | None] | None:
    """Houston's ``DagDeployment`` input -> the services' shape (``{}`` = the default, image-based)."""
    if not given:
        return None
    kind = str(given.get("type") or "").strip().lower()
    if kind not in ("", "image", "volume", "nfs"):
        raise InvalidInput(
            f"dagDeployment type {kind!r} is not supported; allowed: image (the default), volume (NFS, with "
            "nfsLocation; also accepted as nfs)"
        )
    extra = [name for key, name in _GIT_SYNC_FIELDS.items() if given.get(key)]
    if extra:
        raise InvalidInput(f"dagDeployment.{extra[0]} is a git-sync setting; airpool supports image and NFS only")
    return {"type": _HOUSTON_TYPES.get(kind, kind), "nfs_location": given.get("nfs_location")}


@mutation.field("createDeployment")
def resolve_create_deployment(
    _: Any,
    info: Info,
    *,
    label: str,
    workspace_uuid: str,
    executor: str,
    release_name: str | None = None,
    airflow_version: str | None = None,
    namespace: str | None = None,
    description: str | None = None,
    dag_deployment: dict[str, Any] | None = None,
    **_houston_only: Any,  # type, runtimeVersion, config, cloudRole, triggerer: accepted and ignored
) -> DeploymentView:
    return deployments.create(
        platform(info),
        caller(info),
        workspace_id=workspace_uuid,
        label=label,
        executor=executor,
        release_name=release_name,
        airflow_version=airflow_version,
        namespace=namespace,
        description=description or "",
        dag_deployment=_dag_deployment(dag_deployment),
    )


@mutation.field("deleteDeployment")
def resolve_delete_deployment(
    _: Any, info: Info, *, deployment_uuid: str, deployment_hard_delete: bool | None = None
) -> DeploymentView:
    return deployments.delete(platform(info), caller(info), deployment_uuid, hard=deployment_hard_delete)


@query.field("deletedDeployment")
def resolve_deleted_deployment(_: Any, info: Info, *, deployment_uuid: str) -> DeploymentView | None:
    return deployments.deletion(platform(info), caller(info), deployment_uuid)


@query.field("deletedDeployments")
def resolve_deleted_deployments(_: Any, info: Info, *, workspace_uuid: str) -> list[DeploymentView]:
    return deployments.list_deleted(platform(info), caller(info), workspace_uuid)


@query.field("deploymentJobs")
def resolve_deployment_jobs(_: Any, info: Info, *, deployment_uuid: str) -> list[JobView]:
    return commander_jobs.of_deployment(platform(info), caller(info), deployment_uuid)


@mutation.field("retryDeployment")
def resolve_retry_deployment(_: Any, info: Info, *, deployment_uuid: str) -> JobView:
    return commander_jobs.retry_deployment(platform(info), caller(info), deployment_uuid)


@query.field("workspaceDeployments")
def resolve_workspace_deployments(
    _: Any, info: Info, *, workspace_uuid: str, release_name: str | None = None
) -> list[DeploymentView]:
    return deployments.list_for_workspace(platform(info), caller(info), workspace_uuid, release_name=release_name)


@query.field("paginatedDeployments")
def resolve_paginated_deployments(
    _: Any,
    info: Info,
    *,
    take: int | None = None,
    name: str | None = None,
    cursor: str | None = None,
    page_number: int | None = None,
) -> list[DeploymentView]:
    """``take`` -1 (what the CLI sends) or none: everything; else page ``pageNumber`` (1-based), or the rows
    after the Deployment ``cursor``."""
    limit = None if take is None or take < 0 else take
    if cursor is None:
        offset = (max(page_number or 1, 1) - 1) * limit if limit else 0
        return deployments.list_visible(platform(info), caller(info), take=limit, offset=offset, name=name)
    listed = deployments.list_visible(platform(info), caller(info), name=name)
    ids = [d.id for d in listed]
    after = listed[ids.index(cursor) + 1 :] if cursor in ids else []
    return after if limit is None else after[:limit]


@deployment_type.field("type")
def resolve_type(*_: Any) -> str:
    return "airflow"


@deployment_type.field("version")
def resolve_version(*_: Any) -> str:
    return airpool.__version__


@deployment_type.field("desiredAirflowVersion")
def resolve_desired_airflow_version(deployment: DeploymentView, _: Info) -> str:
    return deployment.airflow_version


@deployment_type.field("runtimeVersion")
def resolve_runtime_version(*_: Any) -> str:
    return ""


@deployment_type.field("dagDeployment")
def resolve_dag_deployment(deployment: DeploymentView, _: Info) -> dict[str, str | None]:
    """Houston's names: ``volume`` for NFS (``astro deploy`` refuses image pushes to such a Deployment)."""
    chosen = deployment.dag_deployment
    return {"type": _HOUSTON_NAMES[chosen.type], "nfs_location": chosen.nfs_location}


@deployment_type.field("workspace")
def resolve_workspace(deployment: DeploymentView, _: Info) -> WorkspaceRef:
    return WorkspaceRef(id=deployment.workspace_id)


@deployment_type.field("deployInfo")
def resolve_deploy_info(*_: Any) -> dict[str, str | None]:
    return {"next_cli": "deploy-1", "current": None}


BINDABLES = (query, mutation, deployment_type)
