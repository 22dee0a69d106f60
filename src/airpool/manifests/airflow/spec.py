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

from airpool.config.model import AirflowDefaults
from airpool.domain import dags
from airpool.domain.deployments import Executor

_DEFAULTS = AirflowDefaults()


class DagSource(StrEnum):
    IMAGE = "image"
    NFS = "nfs"


@dataclass(frozen=True)
class DagDeployment:
    """Image-based by default; NFS mounts ``server:/path`` read-only at the DAGs folder."""

    source: DagSource = DagSource.IMAGE
    nfs_server: str | None = None
    nfs_path: str | None = None

    @classmethod
    def nfs(cls, location: str) -> DagDeployment:
        """From Houston's ``nfsLocation`` (``server:/path``), checked by ``domain.dags``."""
        server, path = dags.split_nfs_location(location)
        return cls(source=DagSource.NFS, nfs_server=server.removeprefix("[").removesuffix("]"), nfs_path=path)


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
    #: Image repository; the tag is the Airflow version (``apache/airflow:3.1.3``).
    image: str = _DEFAULTS.image
    platform_release: str = "astronomer"
    platform_namespace: str = "astronomer"
    base_domain: str = "localhost"
    #: Extra labels every object carries (the platform's own, e.g. from ``global.namespaceLabels``).
    platform_labels: tuple[tuple[str, str], ...] = ()
    dags: DagDeployment = field(default_factory=DagDeployment)
    #: None runs a PostgreSQL StatefulSet inside the namespace (not for production).
    external_database: ExternalDatabase | None = None

    @property
    def airflow3(self) -> bool:
        return int(self.airflow_version.split(".", 1)[0]) >= 3

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.airflow_version}"

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
        )


def new_fernet_key() -> str:
    """A Fernet key is url-safe base64 of 32 random bytes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
