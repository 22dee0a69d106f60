"""``appConfig``: the Houston version the CLI negotiates with, and the flags that steer its prompts.

Version 0.37.0 is in the range [0.32.0, 1.0.0) that selects the query variants we implement (no clusters). The
flags appear twice, top-level and in ``featureFlags``, because the CLI reads the object when present and falls
back to the fields for older Houstons. With a pool, ``manualNamespaceNames`` makes the CLI list
``availableNamespaces`` and send the chosen one; with free-form entry it asks for a name instead.
"""

from __future__ import annotations

from typing import Any

from ariadne import QueryType

from airpool.api.resolvers.common import Info, platform
from airpool.config.model import PlatformConfig

HOUSTON_VERSION = "0.37.0"

query = QueryType()


def flags(config: PlatformConfig) -> dict[str, bool]:
    free_form = config.deployments.free_form
    choose_from_pool = (config.pool_enabled or config.deployments.manual_namespace_names) and not free_form
    return {
        "manualNamespaceNames": choose_from_pool,
        "namespaceFreeFormEntry": free_form,
        "hardDeleteDeployment": config.deployments.hard_delete,
        "triggererEnabled": config.deployments.triggerer_enabled,
        "nfsMountDagDeployment": config.deployments.nfs_dag_deploys,
        "gitSyncDagDeployment": config.deployments.git_sync_dag_deploys,
        "astroRuntimeEnabled": False,
        "dagOnlyDeployment": False,
        "byoUpdateRegistryEnabled": False,
    }


@query.field("appConfig")
def resolve_app_config(_: Any, info: Info) -> dict[str, Any]:
    config = platform(info).config
    feature_flags = flags(config)
    return {
        "version": HOUSTON_VERSION,
        "base_domain": config.base_domain,
        "byo_update_registry_host": "",
        "smtp_configured": False,
        "manual_release_names": True,
        "configure_dag_deployment": feature_flags["nfsMountDagDeployment"],
        "nfs_mount_dag_deployment": feature_flags["nfsMountDagDeployment"],
        "manual_namespace_names": feature_flags["manualNamespaceNames"],
        "namespace_free_form_entry": feature_flags["namespaceFreeFormEntry"],
        "hard_delete_deployment": feature_flags["hardDeleteDeployment"],
        "triggerer_enabled": feature_flags["triggererEnabled"],
        "feature_flags": feature_flags,
        "default_executor": config.airflow.executor,
        "default_airflow_version": config.airflow.version,
    }


BINDABLES = (query,)
