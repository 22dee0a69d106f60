"""The one validated view of the platform configuration that every other part reads.

``airpool.config.load`` builds it from values.yaml files; nothing else parses YAML configuration. Frozen
dataclasses keep it hashable and safe to share between the server's threads and the commander worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from airpool.domain.sizes import ComponentLimits, ComponentSize, Resources


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
    git_sync_dag_deploys: bool = False  # gitSyncDagDeployment
    triggerer_enabled: bool = True


#: Image pull policies Kubernetes accepts.
PULL_POLICIES = ("Always", "IfNotPresent", "Never")


@dataclass(frozen=True)
class ImageRef:
    """One container image: ``repository:tag`` and its pull policy."""

    repository: str
    #: None only for Airflow: the tag is then the Deployment's Airflow version (``apache/airflow:3.3.2``).
    tag: str | None
    pull_policy: str = "IfNotPresent"

    def ref(self, default_tag: str | None = None) -> str:
        tag = self.tag or default_tag
        return f"{self.repository}:{tag}" if tag else self.repository


@dataclass(frozen=True)
class Images:
    """Every image a Deployment runs (``airpool.images``). The defaults are public images a real cluster can pull:
    the official Apache Airflow image for the Deployment's version and matching helper images."""

    airflow: ImageRef = ImageRef("apache/airflow", None)
    postgresql: ImageRef = ImageRef("postgres", "16.6-bookworm")
    redis: ImageRef = ImageRef("redis", "7.2-bookworm")
    pgbouncer: ImageRef = ImageRef("apache/airflow", "airflow-pgbouncer-2025.03.05-1.23.1")
    #: None: no metrics exporter beside PgBouncer (``airpool.images.pgbouncerExporter.enabled: false``).
    pgbouncer_exporter: ImageRef | None = ImageRef("apache/airflow", "airflow-pgbouncer-exporter-2025.03.05-0.18.0")
    statsd: ImageRef = ImageRef("quay.io/prometheus/statsd-exporter", "v0.28.0")
    #: git-sync v4 for git-sync DAG deploys (sidecar and init container of the DAG-reading components).
    git_sync: ImageRef = ImageRef("registry.k8s.io/git-sync/git-sync", "v4.4.0")
    #: ``airpool.registry.secretName``: an image pull Secret every pod names (it must exist in each namespace).
    pull_secret: str | None = None


@dataclass(frozen=True)
class Persistence:
    """A PersistentVolumeClaim a Deployment renders (``...persistence.{enabled,size,storageClassName}``)."""

    enabled: bool = True
    size: str = "8Gi"
    #: None: the cluster's default StorageClass.
    storage_class: str | None = None
    access_mode: str = "ReadWriteOnce"


#: Airflow versions offered for upgrades when ``airpool.airflow.versions`` is not set (the default version is
#: always offered too).
DEFAULT_AIRFLOW_VERSIONS: tuple[str, ...] = ("2.11.2", "3.3.2")


@dataclass(frozen=True)
class AirflowDefaults:
    version: str = "3.3.2"
    #: ``airpool.airflow.versions``: the versions Deployments may upgrade to (``deploymentConfig.airflowVersions``),
    #: oldest first; each must have an image (``airpool.images.airflow`` tagged with the version).
    versions: tuple[str, ...] = DEFAULT_AIRFLOW_VERSIONS
    #: Seconds commander waits for an upgrade's database migration Job before it gives up and keeps the old
    #: version (``airpool.airflow.upgradeTimeoutSeconds``).
    upgrade_timeout: int = 1800
    executor: str = "CeleryExecutor"
    #: PostgreSQL admin URL in which commander creates one database and role per Deployment; None runs an
    #: in-namespace PostgreSQL StatefulSet instead (not for production).
    database_admin_url: str | None = None
    #: Commander calls a Deployment healthy only once Airflow's own health endpoint reports every component
    #: healthy. False only for clusters whose nodes run no containers (airpool dev's simulated nodes).
    read_health_endpoint: bool = True
    #: The in-namespace PostgreSQL's data (``airpool.airflow.postgresql.persistence``); disabled: an emptyDir.
    postgresql_persistence: Persistence = Persistence()
    #: KubernetesExecutor Deployments share one log volume between task pods and the API server
    #: (``airpool.airflow.logs.persistence``), so task logs outlive their pods.
    logs_persistence: Persistence = Persistence(size="10Gi", access_mode="ReadWriteMany")
    #: Admin-added volumes/mounts for every Airflow container (``airpool.airflow.extraVolumes`` /
    #: ``extraVolumeMounts``), as canonical JSON so the configuration stays hashable.
    extra_volumes: tuple[str, ...] = ()
    extra_volume_mounts: tuple[str, ...] = ()


def _size(cpu: str, memory: str, *, max_replicas: int, min_replicas: int = 1) -> ComponentLimits:
    return ComponentLimits(
        default=ComponentSize(replicas=1, requests=Resources("50m", "128Mi"), limits=Resources(cpu, memory)),
        max_replicas=max_replicas,
        min_replicas=min_replicas,
        max_limits=Resources("4", "8Gi"),
    )


#: Defaults and largest sizes per component (``airpool.deploymentSizes``); the defaults are what the manifests
#: render for a Deployment nobody resized (a LocalExecutor scheduler, which runs the tasks, gets 2Gi).
DEFAULT_SIZES: tuple[tuple[str, ComponentLimits], ...] = (
    ("scheduler", _size("1", "1Gi", max_replicas=4)),
    ("webserver", _size("1", "1536Mi", max_replicas=4)),
    ("workers", _size("1", "2Gi", max_replicas=10)),
    ("triggerer", _size("1", "1Gi", max_replicas=2, min_replicas=0)),
)


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8871
    #: Public URL users reach the server at; defaults to http://host:port.
    public_url: str | None = None


@dataclass(frozen=True)
class OidcProvider:
    """One OpenID Connect identity provider (``astronomer.houston.config.auth.openidConnect.<name>``)."""

    name: str
    display_name: str
    #: ``<issuer>/.well-known/openid-configuration``; https, or http on a loopback address (local testing).
    discovery_url: str
    client_id: str
    #: The client secret (values key ``clientSecret`` or ``AUTH__OPENID_CONNECT__<NAME>__CLIENT_SECRET``); None for
    #: a public client, which proves itself by PKCE alone.
    client_secret: str | None = None
    #: Extra query parameters of the authorization request (``authUrlParams``), e.g. an Auth0 ``audience``.
    auth_url_params: tuple[tuple[str, str], ...] = ()
    #: ID-token claims read for the account: the e-mail (the username), the display name and the groups.
    email_claim: str = "email"
    name_claim: str = "name"
    groups_claim: str = "groups"


@dataclass(frozen=True)
class AuthSettings:
    """How people log in (``astronomer.houston.config.auth``)."""

    #: ``auth.local.enabled``: username and password accounts.
    local_enabled: bool = True
    #: Enabled OpenID Connect providers, in the order the log-in page offers them.
    providers: tuple[OidcProvider, ...] = ()
    #: ``auth.openidConnect.clockTolerance``: seconds of clock skew allowed when checking ID-token times.
    clock_tolerance: int = 0
    #: ``auth.openidConnect.idpGroupsImportEnabled``: the groups claim fills the user's identity-provider teams.
    groups_import: bool = False

    def provider(self, name: str) -> OidcProvider | None:
        return next((p for p in self.providers if p.name == name), None)


@dataclass(frozen=True)
class PlatformConfig:
    platform_release: str = "astronomer"
    platform_namespace: str = "astronomer"
    base_domain: str = "localhost"
    #: ``airpool.deploymentsBaseUrl``: where users reach Deployments' UIs; None: ``https://deployments.<baseDomain>``.
    deployments_base_url: str | None = None
    #: ``airpool.ingress.className``: ``ingressClassName`` of the Deployments' Ingresses (None: the default class).
    ingress_class_name: str | None = None
    #: Astronomer's ``global.tlsSecret``: TLS Secret of the Deployments' Ingresses when their URL is https (it must
    #: exist in each Deployment's namespace); None: no TLS section.
    ingress_tls_secret: str | None = None
    rbac_enabled: bool = True
    cluster_roles: bool = True
    namespace_labels: tuple[tuple[str, str], ...] = ()
    pool: PoolSettings | None = None
    deployments: DeploymentSettings = field(default_factory=DeploymentSettings)
    airflow: AirflowDefaults = field(default_factory=AirflowDefaults)
    images: Images = field(default_factory=Images)
    server: ServerSettings = field(default_factory=ServerSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    #: Per component (Houston's names: scheduler, webserver, workers, triggerer): defaults and largest sizes.
    deployment_sizes: tuple[tuple[str, ComponentLimits], ...] = DEFAULT_SIZES
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
    def deployments_url(self) -> str:
        """Deployment UIs live under ``<this>/<release>/airflow`` (and ``/flower``)."""
        return (self.deployments_base_url or f"https://deployments.{self.base_domain}").rstrip("/")

    @property
    def size_limits(self) -> dict[str, ComponentLimits]:
        return dict(self.deployment_sizes)

    @property
    def pool_enabled(self) -> bool:
        return self.pool is not None
