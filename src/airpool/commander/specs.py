"""From a Deployment record and the platform configuration to what commander renders and how it acts."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airpool.commander import database
from airpool.config.model import ImageRef, PlatformConfig
from airpool.domain import rollouts, sizes
from airpool.manifests.airflow import network
from airpool.manifests.airflow.spec import AirflowSpec, ExternalDatabase


@dataclass(frozen=True)
class Placement:
    """Where a Deployment lives and what commander may do about its namespace."""

    #: The namespace belongs to the pool, now or formerly (never created or deleted by commander).
    in_pool: bool
    #: NFS DAG deploys are on and commander has cluster rights for PersistentVolumes.
    cluster_scoped: bool

    @property
    def manage_namespace(self) -> bool:
        return not self.in_pool


def placement(config: PlatformConfig, namespace: str, *, pool_row: bool = False) -> Placement:
    """``pool_row``: the pool table knows the namespace, which outlives its removal from the configuration."""
    in_pool = pool_row or (config.pool is not None and namespace in config.pool.names)
    return Placement(in_pool=in_pool, cluster_scoped=config.deployments.nfs_dag_deploys and config.cluster_roles)


def external_database(config: PlatformConfig, release_name: str) -> ExternalDatabase | None:
    url = config.airflow.database_admin_url
    return database.external_database(url, release_name) if url else None


def airflow_spec(
    config: PlatformConfig,
    *,
    deployment_id: str,
    release_name: str,
    namespace: str,
    executor: str,
    airflow_version: str,
    workspace_id: str | None = None,
    config_payload: Mapping[str, Any] | None = None,
    image: str | None = None,
) -> AirflowSpec:
    """``config_payload``: the components the user resized (``DeploymentView.config``); ``image``: the reference of
    an image deploy, run by every Airflow container instead of the platform's image (same pull policy)."""
    from airpool.domain.deployments import Executor

    images = config.images
    if image:
        repository, tag = rollouts.split_image(image)
        images = dataclasses.replace(
            images, airflow=ImageRef(repository, tag, pull_policy=config.images.airflow.pull_policy)
        )

    labels: tuple[tuple[str, str], ...] = ()
    if workspace_id:
        labels = (("airpool.io/workspace", workspace_id),)
    return AirflowSpec(
        deployment_id=deployment_id,
        release_name=release_name,
        namespace=namespace,
        executor=Executor(executor),
        airflow_version=airflow_version,
        images=images,
        platform_release=config.platform_release,
        platform_namespace=config.platform_namespace,
        base_domain=config.base_domain,
        deployments_url=config.deployments_base_url,
        ingress_class_name=config.ingress_class_name,
        ingress_tls_secret=config.ingress_tls_secret,
        platform_labels=labels,
        external_database=external_database(config, release_name),
        postgresql_persistence=config.airflow.postgresql_persistence,
        logs_persistence=config.airflow.logs_persistence,
        extra_volumes=config.airflow.extra_volumes,
        extra_volume_mounts=config.airflow.extra_volume_mounts,
        sizes=resized(config, config_payload),
    )


def resized(config: PlatformConfig, stored: Mapping[str, Any] | None) -> tuple[tuple[str, sizes.ComponentSize], ...]:
    defaults = {name: limits.default for name, limits in config.deployment_sizes}
    chosen = sizes.from_stored(stored, defaults)
    return tuple((name, chosen[name]) for name in sizes.COMPONENTS if name in (stored or {}))


def urls(spec: AirflowSpec) -> list[tuple[str, str]]:
    """(type, url) of the Deployment's UIs, as its Ingresses route them."""
    return list(network.ui_urls(spec).items())
