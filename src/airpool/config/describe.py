"""The effective configuration as plain data, in values.yaml's own key names, for ``config validate`` to print.

Admins think in values.yaml keys, so the summary uses them (and says where the pool came from) rather than
airpool's internal field names. Secrets in database URLs are masked: the output ends up in terminals and tickets.
"""

from __future__ import annotations

import json
import re
from typing import Any

from airpool.config.model import ImageRef, Persistence, PlatformConfig

_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]*(@)")


def mask(url: str | None) -> str | None:
    return None if url is None else _PASSWORD.sub(r"\1***\2", url)


def _image(image: ImageRef | None, version_tag: str | None = None) -> dict[str, Any] | str:
    if image is None:
        return "disabled"
    tag = image.tag or version_tag
    return {"image": image.ref(tag), "pullPolicy": image.pull_policy}


def _persistence(p: Persistence) -> dict[str, Any]:
    if not p.enabled:
        return {"enabled": False}
    return {
        "enabled": True,
        "size": p.size,
        "storageClassName": p.storage_class or "(the cluster's default StorageClass)",
        "accessMode": p.access_mode,
    }


def _auth(config: PlatformConfig) -> dict[str, Any]:
    """``astronomer.houston.config.auth`` as in effect; a client secret only says whether it is set."""
    auth = config.auth
    return {
        "local": {"enabled": auth.local_enabled},
        "openidConnect": {
            "clockTolerance": auth.clock_tolerance,
            "idpGroupsImportEnabled": auth.groups_import,
            **{
                p.name: {
                    "displayName": p.display_name,
                    "clientId": p.client_id,
                    "clientSecret": "(set)" if p.client_secret else "(none: public client)",
                    "discoveryUrl": p.discovery_url,
                    "authUrlParams": dict(p.auth_url_params),
                }
                for p in auth.providers
            },
        },
    }


def describe(config: PlatformConfig) -> dict[str, Any]:
    pool = config.pool
    return {
        "platform": {
            "releaseName": config.platform_release,
            "namespace": config.platform_namespace,
            "commanderServiceAccount": f"{config.platform_namespace}/{config.commander_service_account}",
            "baseDomain": config.base_domain,
            "deploymentsBaseUrl": config.deployments_url,
        },
        "namespacePool": (
            {"enabled": False}
            if pool is None
            else {
                "enabled": True,
                "source": pool.source.value,
                "names": list(pool.names),
                "createNamespaces": pool.create_namespaces,
                "createRbac": pool.create_rbac,
            }
        ),
        "rbac": {"rbacEnabled": config.rbac_enabled, "clusterRoles": config.cluster_roles},
        "namespaceLabels": dict(config.namespace_labels),
        "deployments": {
            "hardDeleteDeployment": config.deployments.hard_delete,
            "manualNamespaceNames": config.deployments.manual_namespace_names,
            "namespaceFreeFormEntry": config.deployments.free_form,
            "nfsMountDagDeployment": config.deployments.nfs_dag_deploys,
            "gitSyncDagDeployment": config.deployments.git_sync_dag_deploys,
            "triggererEnabled": config.deployments.triggerer_enabled,
        },
        "auth": _auth(config),
        "airpool": {
            "databaseUrl": mask(config.database_url) or f"sqlite (file in {config.data_dir})",
            "dataDir": config.data_dir,
            "server": {
                "host": config.server.host,
                "port": config.server.port,
                "publicUrl": config.server.public_url or f"http://{config.server.host}:{config.server.port}",
            },
            "retentionDays": config.retention_days,
            "cleanupSchedule": config.cleanup_schedule,
            "healthCheckInterval": config.health_check_interval,
            "airflow": {
                "version": config.airflow.version,
                "versions": list(config.airflow.versions),
                "upgradeTimeoutSeconds": config.airflow.upgrade_timeout,
                "executor": config.airflow.executor,
                "databaseAdminUrl": mask(config.airflow.database_admin_url),
                "readHealthEndpoint": config.airflow.read_health_endpoint,
                "postgresql": {"persistence": _persistence(config.airflow.postgresql_persistence)},
                "logs": {"persistence": _persistence(config.airflow.logs_persistence)},
                "extraVolumes": [json.loads(v) for v in config.airflow.extra_volumes],
                "extraVolumeMounts": [json.loads(m) for m in config.airflow.extra_volume_mounts],
            },
            "images": {
                "airflow": _image(
                    config.images.airflow,
                    None if config.images.airflow.tag else "<the Deployment's Airflow version>",
                ),
                "postgresql": _image(config.images.postgresql),
                "redis": _image(config.images.redis),
                "pgbouncer": _image(config.images.pgbouncer),
                "pgbouncerExporter": _image(config.images.pgbouncer_exporter),
                "statsd": _image(config.images.statsd),
            },
            "registry": {"secretName": config.images.pull_secret or "(none)"},
        },
    }
