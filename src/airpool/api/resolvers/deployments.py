"""Deployments: ``createDeployment``, ``deleteDeployment``, ``workspaceDeployments``, ``paginatedDeployments``;
airpool's ``deletedDeployment(s)``, ``deploymentJobs`` and ``retryDeployment``.

Houston fields the CLI reads but airpool has no separate notion of are fixed here: ``type`` is always
``airflow``, ``version`` is airpool's own (the chart version in Houston), ``runtimeVersion`` is empty (Astro
Runtime images are not used: ``astroRuntimeEnabled`` is false), and ``deployInfo`` names the
running image's tag and the next one.
"""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType, QueryType

import airpool
from airpool.api.resolvers.common import Info, caller, platform
from airpool.api.resolvers.workspaces import WorkspaceRef
from airpool.domain import dags, rollouts
from airpool.domain.deployments import Executor
from airpool.domain.errors import InvalidInput
from airpool.services import commander_jobs, deployments, upgrades, variables
from airpool.services.views import DeploymentView, JobView

query = QueryType()
mutation = MutationType()
deployment_type = ObjectType("Deployment")

#: Houston calls an NFS DAG deploy ``volume`` (``astro deployment create --dag-deployment-type volume
#: --nfs-location server:/path``); ``nfs`` is accepted as airpool's own name. git-sync is ``git_sync`` in both.
_HOUSTON_TYPES = {"volume": dags.DagDeployType.NFS.value}
_HOUSTON_NAMES = {
    dags.DagDeployType.NFS: "volume",
    dags.DagDeployType.IMAGE: "image",
    dags.DagDeployType.GIT_SYNC: "git_sync",
}
_TYPES = ("", "image", "volume", "nfs", "git_sync")


def _dag_deployment(given: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dags.GitCredentials | None]:
    """Houston's ``DagDeployment`` input (keys arrive snake_cased) -> the services' shape and the git-sync
    credentials apart (``{}`` = the default, image-based; on update: unchanged)."""
    if not given:
        return None, None
    kind = str(given.get("type") or "").strip().lower()
    if kind not in _TYPES:
        raise InvalidInput(
            f"dagDeployment type {kind!r} is not supported; allowed: image (the default), volume (NFS, with "
            "nfsLocation; also accepted as nfs), git_sync (with repositoryUrl)"
        )
    credentials = None
    if given.get("ssh_key") is not None or given.get("known_hosts") is not None:
        credentials = dags.GitCredentials(ssh_key=given.get("ssh_key"), known_hosts=given.get("known_hosts"))
    if not kind:
        # The CLI sends {} (or only syncInterval) when no DAG deploy flag was given.
        named = [k for k in ("nfs_location", "repository_url") if given.get(k)]
        if not named and credentials is None:
            return None, None
    chosen: dict[str, Any] = {"type": _HOUSTON_TYPES.get(kind, kind), "nfs_location": given.get("nfs_location")}
    chosen.update({k: given.get(k) for k in deployments.GIT_SYNC_KEYS if given.get(k) not in (None, "")})
    return chosen, credentials


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
    chosen, credentials = _dag_deployment(dag_deployment)
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
        dag_deployment=chosen,
        git_credentials=credentials,
    )


@query.field("deployment")
def resolve_deployment(_: Any, info: Info, *, where: dict[str, Any]) -> DeploymentView | None:
    """Houston's ``deployment(where: {id})`` (the CLI's GetDeployment); also ``deploymentUuid``/``releaseName``."""
    wanted = where.get("id") or where.get("deployment_uuid")
    release = where.get("release_name")
    if not wanted and not release:
        raise InvalidInput("deployment needs where.id, where.deploymentUuid or where.releaseName")
    return deployments.find(platform(info), caller(info), deployment_id=wanted, release_name=release)


@query.field("deploymentConfig")
def resolve_deployment_config(_: Any, info: Info, **_houston_filters: Any) -> dict[str, Any]:
    """What the CLI's ``DeploymentInfo`` reads (Airflow images and versions) and the sizes an admin allows."""
    platform(info)  # any logged-in or anonymous caller reads the installation's settings, as with appConfig
    config = platform(info).config
    defaults, limits = deployments.size_settings(config)
    version = config.airflow.version
    offered = config.airflow.versions
    return {
        "airflow_images": [{"version": v, "tag": config.images.airflow.tag or v, "channel": "stable"} for v in offered],
        "airflow_versions": list(offered),
        "default_airflow_image_tag": config.images.airflow.tag or version,
        "latest_version": offered[-1],
        "executors": [e.value for e in Executor],
        "defaults": defaults,
        "limits": limits,
    }


def _payload_text(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        return None  # the CLI sends every flag; an empty one means "unchanged"
    if not isinstance(value, str):
        raise InvalidInput(f"payload.{key} must be a string")
    return value


@mutation.field("updateDeployment")
def resolve_update_deployment(
    _: Any,
    info: Info,
    *,
    deployment_uuid: str,
    payload: Any = None,
    executor: str | None = None,
    dag_deployment: dict[str, Any] | None = None,
    triggerer: dict[str, Any] | None = None,
    config: Any = None,
    **_houston_only: Any,  # cloudRole (IAM roles are not used), sync (commander always applies)
) -> DeploymentView:
    payload = payload if payload is not None else {}
    if not isinstance(payload, dict):
        raise InvalidInput("payload must be an object: {label, description, config}")
    unknown = sorted(set(payload) - {"label", "description", "config"})
    if unknown:
        raise InvalidInput(f"payload.{unknown[0]} cannot be changed here; allowed: label, description, config")
    if config is not None and payload.get("config") is not None:
        raise InvalidInput("config is given twice (argument and payload.config); give it once")
    sizes = config if config is not None else payload.get("config")
    chosen, credentials = _dag_deployment(dag_deployment)
    replicas = (triggerer or {}).get("replicas")
    return deployments.update(
        platform(info),
        caller(info),
        deployment_uuid,
        label=_payload_text(payload, "label"),
        description=_payload_text(payload, "description"),
        executor=executor,
        config=sizes,
        triggerer_replicas=replicas,
        dag_deployment=chosen,
        git_credentials=credentials,
    )


@mutation.field("updateDeploymentAirflow")
def resolve_update_deployment_airflow(
    _: Any, info: Info, *, deployment_uuid: str, desired_airflow_version: str
) -> DeploymentView:
    return upgrades.update_airflow(platform(info), caller(info), deployment_uuid, desired_airflow_version)


@mutation.field("updateDeploymentImage")
def resolve_update_deployment_image(
    _: Any,
    info: Info,
    *,
    release_name: str,
    image: str,
    airflow_version: str | None = None,
    runtime_version: str | None = None,
) -> DeploymentView:
    return upgrades.deploy_image(
        platform(info),
        caller(info),
        release_name=release_name,
        image=image,
        airflow_version=airflow_version,
        runtime_version=runtime_version,
    )


@query.field("deploymentVariables")
def resolve_deployment_variables(
    _: Any, info: Info, *, deployment_uuid: str, release_name: str | None = None
) -> list[variables.VariableView]:
    return variables.list_for(platform(info), caller(info), deployment_uuid)


@mutation.field("updateDeploymentVariables")
def resolve_update_deployment_variables(
    _: Any,
    info: Info,
    *,
    deployment_uuid: str,
    environment_variables: list[dict[str, Any]],
    release_name: str | None = None,
) -> list[variables.VariableView]:
    return variables.replace(platform(info), caller(info), deployment_uuid, environment_variables)


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
    """Houston's: the version a pending upgrade goes to, else the running one (what the CLI's cancel compares)."""
    return deployment.desired_airflow_version or deployment.airflow_version


@deployment_type.field("runtimeVersion")
def resolve_runtime_version(*_: Any) -> str:
    return ""


@deployment_type.field("desiredRuntimeVersion")
@deployment_type.field("runtimeAirflowVersion")
def resolve_no_runtime(*_: Any) -> str:
    return ""


@deployment_type.field("config")
def resolve_config(deployment: DeploymentView, info: Info) -> dict[str, Any]:
    return deployments.effective_sizes(platform(info).config, deployment)


@deployment_type.field("dagDeployment")
def resolve_dag_deployment(deployment: DeploymentView, _: Info) -> dict[str, Any]:
    """Houston's names: ``volume`` for NFS (``astro deploy`` refuses image pushes to such a Deployment),
    ``git_sync`` with its settings. ``sshKey`` and ``knownHosts`` are write-only: always null."""
    chosen = deployment.dag_deployment
    out: dict[str, Any] = {"type": _HOUSTON_NAMES[chosen.type], "nfs_location": chosen.nfs_location}
    if chosen.git is not None:
        git = chosen.git
        out.update(
            repository_url=git.repository_url,
            branch_name=git.branch_name,
            rev=git.rev,
            dag_directory_location=git.dag_directory_location,
            sync_interval=git.sync_interval,
        )
    return out


@deployment_type.field("workspace")
def resolve_workspace(deployment: DeploymentView, _: Info) -> WorkspaceRef:
    return WorkspaceRef(id=deployment.workspace_id)


@deployment_type.field("deployInfo")
def resolve_deploy_info(deployment: DeploymentView, info: Info) -> dict[str, str]:
    """``current``: the tag of the image the Deployment runs (the platform's image: its Airflow version);
    ``nextCli``: the tag for the next image (``domain.rollouts.deploy_tags``)."""
    airflow_image = platform(info).config.images.airflow
    current, next_cli = rollouts.deploy_tags(deployment.image, airflow_image.tag or deployment.airflow_version)
    return {"next_cli": next_cli, "current": current}


BINDABLES = (query, mutation, deployment_type)
