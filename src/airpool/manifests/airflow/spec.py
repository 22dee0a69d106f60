"""What commander needs to know to render one Airflow Deployment, and the secret values it carries.

The spec is built by commander from the Deployment record and the platform configuration; the secrets are read
back from the cluster (or generated on first install) by commander, so rendering stays a pure function and a
re-apply never rotates a key.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from airpool.config.model import AirflowDefaults, ImageRef, Images, Persistence
from airpool.domain import dags
from airpool.domain.deployments import Executor
from airpool.domain.sizes import ComponentSize

_DEFAULTS = AirflowDefaults()


class DagSource(StrEnum):
    IMAGE = "image"
    NFS = "nfs"
    GIT_SYNC = "git_sync"


@dataclass(frozen=True)
class DagDeployment:
    """Image-based by default; NFS mounts ``server:/path`` read-only at the DAGs folder; git-sync clones a
    repository into a volume shared with the DAG-reading components (``manifests.airflow.gitsync``)."""

    source: DagSource = DagSource.IMAGE
    nfs_server: str | None = None
    nfs_path: str | None = None
    git: dags.GitSync | None = None

    @classmethod
    def nfs(cls, location: str) -> DagDeployment:
        """From Houston's ``nfsLocation`` (``server:/path``), checked by ``domain.dags``."""
        server, path = dags.split_nfs_location(location)
        return cls(source=DagSource.NFS, nfs_server=server.removeprefix("[").removesuffix("]"), nfs_path=path)

    @classmethod
    def of(cls, chosen: dags.DagDeploy) -> DagDeployment:
        """From the Deployment record's choice."""
        if chosen.is_nfs and chosen.nfs_location:
            return cls.nfs(chosen.nfs_location)
        if chosen.git is not None:
            return cls(source=DagSource.GIT_SYNC, git=chosen.git)
        return cls()


@dataclass(frozen=True)
class ExternalDatabase:
    """A database and role of their own on the PostgreSQL server airpool was given an admin URL for."""

    host: str
    port: int
    database: str
    user: str


@dataclass(frozen=True)
class AirflowSpec:
    deployment_id: str
    release_name: str
    namespace: str
    executor: Executor = Executor.CELERY
    #: Defaults are the platform's (``PlatformConfig.airflow``); commander passes the Deployment's own.
    airflow_version: str = _DEFAULTS.version
    #: Every image the Deployment runs; Airflow's tag defaults to ``airflow_version`` (``apache/airflow:3.3.2``).
    images: Images = field(default_factory=Images)
    platform_release: str = "astronomer"
    platform_namespace: str = "astronomer"
    base_domain: str = "localhost"
    #: Where users reach the UIs (``airpool.deploymentsBaseUrl``); None: ``https://deployments.<base_domain>``.
    deployments_url: str | None = None
    #: ``ingressClassName`` and TLS Secret of the Ingresses (``airpool.ingress.className``, ``global.tlsSecret``).
    ingress_class_name: str | None = None
    ingress_tls_secret: str | None = None
    #: Extra labels every object carries (the platform's own, e.g. from ``global.namespaceLabels``).
    platform_labels: tuple[tuple[str, str], ...] = ()
    dags: DagDeployment = field(default_factory=DagDeployment)
    #: None runs a PostgreSQL StatefulSet inside the namespace (not for production).
    external_database: ExternalDatabase | None = None
    #: The in-namespace PostgreSQL keeps its data on a PersistentVolumeClaim (disabled: an emptyDir).
    postgresql_persistence: Persistence = _DEFAULTS.postgresql_persistence
    #: KubernetesExecutor: one log volume shared by task pods and the components that read their logs.
    logs_persistence: Persistence = _DEFAULTS.logs_persistence
    #: Admin-added volumes and mounts for every Airflow container, as canonical JSON (see ``config``).
    extra_volumes: tuple[str, ...] = ()
    extra_volume_mounts: tuple[str, ...] = ()
    #: Components a user resized, by Houston's name (scheduler, webserver, workers, triggerer); others render
    #: with the built-in sizes.
    sizes: tuple[tuple[str, ComponentSize], ...] = ()
    #: The user's environment variables (``services.variables``), values included: hidden from ``repr`` so that a
    #: logged spec never carries them; rendered into the Secret ``<release>-env`` only.
    env_vars: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: git-sync's SSH private key and known hosts (empty: none), hidden from ``repr`` like ``env_vars``; rendered
    #: into the Secret ``<release>-git-sync-ssh`` only.
    git_ssh_key: str = field(default="", repr=False)
    git_known_hosts: str = field(default="", repr=False)

    def size(self, houston_name: str) -> ComponentSize | None:
        return dict(self.sizes).get(houston_name)

    @property
    def airflow3(self) -> bool:
        return int(self.airflow_version.split(".", 1)[0]) >= 3

    @property
    def airflow_image(self) -> ImageRef:
        return self.images.airflow

    @property
    def airflow_tag(self) -> str:
        return self.images.airflow.tag or self.airflow_version

    @property
    def image_ref(self) -> str:
        return self.images.airflow.ref(self.airflow_version)

    @property
    def ui_root(self) -> str:
        return (self.deployments_url or f"https://deployments.{self.base_domain}").rstrip("/")

    @property
    def base_path(self) -> str:
        """URL path the Airflow UI and API are served under (behind the ingress host)."""
        return f"/{self.release_name}/airflow"

    @property
    def nfs_volume_name(self) -> str:
        """PersistentVolumes are cluster-scoped, so the name carries the namespace to stay unique."""
        return f"{self.namespace}-{self.release_name}-dags"


@dataclass(frozen=True, repr=False)
class AirflowSecrets:
    """Secret values of one Deployment; ``repr`` is hidden so that a log line can never carry them."""

    fernet_key: str
    webserver_secret_key: str
    jwt_secret: str
    db_password: str
    redis_password: str
    #: The Airflow UI/REST API account ``admin`` (Airflow 3: simple auth manager; 2.x: FAB).
    admin_password: str

    def __repr__(self) -> str:
        return "AirflowSecrets(<hidden>)"

    @classmethod
    def generate(cls) -> AirflowSecrets:
        return cls(
            fernet_key=new_fernet_key(),
            webserver_secret_key=secrets.token_hex(32),
            jwt_secret=secrets.token_hex(32),
            db_password=secrets.token_urlsafe(24),
            redis_password=secrets.token_urlsafe(24),
            admin_password=secrets.token_urlsafe(18),
        )


def new_fernet_key() -> str:
    """A Fernet key is url-safe base64 of 32 random bytes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
