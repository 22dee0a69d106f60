"""The one validated view of the platform configuration that every other part reads.

``airpool.config.load`` builds it from values.yaml files; nothing else parses YAML configuration. Frozen
dataclasses keep it hashable and safe to share between the server's threads and the commander worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PoolSource(StrEnum):
    """Which settings defined the effective pool (Astronomer's standard or advanced namespace-pool settings)."""

    STANDARD = "standard"  # global.features.namespacePools
    ADVANCED = "advanced"  # astronomer.houston.config.deployments.preCreatedNamespaces


@dataclass(frozen=True)
class PoolSettings:
    names: tuple[str, ...]
    #: airpool creates the Namespace objects (airpool creates the pool); false when the admin creates them.
    create_namespaces: bool
    #: airpool renders/applies commander's Role and RoleBinding in each pool namespace.
    create_rbac: bool
    source: PoolSource


@dataclass(frozen=True)
class DeploymentSettings:
    hard_delete: bool = False  # hardDeleteDeployment: delete requests remove everything at once
    free_form: bool = False  # namespaceFreeFormEntry: users type a namespace name
    manual_namespace_names: bool = False  # manualNamespaceNames: users choose a namespace (pool or free-form)
    nfs_dag_deploys: bool = False  # nfsMountDagDeployment
    triggerer_enabled: bool = True


@dataclass(frozen=True)
class AirflowDefaults:
    version: str = "3.1.3"
    executor: str = "CeleryExecutor"
    image: str = "apache/airflow"
    #: PostgreSQL admin URL in which commander creates one database and role per Deployment; None runs an
    #: in-namespace PostgreSQL StatefulSet instead (not for production).
    database_admin_url: str | None = None


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8871
    #: Public URL users reach the server at; defaults to http://host:port.
    public_url: str | None = None


@dataclass(frozen=True)
class PlatformConfig:
    platform_release: str = "astronomer"
    platform_namespace: str = "astronomer"
    base_domain: str = "localhost"
    rbac_enabled: bool = True
    cluster_roles: bool = True
    namespace_labels: tuple[tuple[str, str], ...] = ()
    pool: PoolSettings | None = None
    deployments: DeploymentSettings = field(default_factory=DeploymentSettings)
    airflow: AirflowDefaults = field(default_factory=AirflowDefaults)
    server: ServerSettings = field(default_factory=ServerSettings)
    #: SQLAlchemy URL; None means the embedded SQLite file in the data directory.
    database_url: str | None = None
    data_dir: str = ".airpool"
    #: Soft-deleted Deployments keep their namespace this long before it returns to the pool.
    retention_days: int = 14
    #: Cron expression of the cleanup run inside the server (Astronomer runs it as a CronJob).
    cleanup_schedule: str = "0 5 * * *"
    #: Seconds between pool health checks run by commander.
    health_check_interval: int = 60
    #: Human-readable warnings about risky but allowed combinations, shown by ``config validate`` and Settings.
    warnings: tuple[str, ...] = ()
    #: Keys of the Astronomer chart that airpool does not use (ignored, listed for the admin).
    ignored_keys: tuple[str, ...] = ()
    #: The values files this configuration was loaded from, in merge order (empty: built-in defaults).
    sources: tuple[str, ...] = ()

    @property
    def commander_service_account(self) -> str:
        return f"{self.platform_release}-commander"

    @property
    def pool_enabled(self) -> bool:
        return self.pool is not None
