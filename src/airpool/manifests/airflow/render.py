"""Every Kubernetes object of one Airflow Deployment, as plain dicts in a sensible apply order."""

from __future__ import annotations

import json

from airpool.domain.deployments import Executor
from airpool.manifests.airflow import access, limits, network, settings, workloads
from airpool.manifests.airflow import common as c
from airpool.manifests.airflow.spec import AirflowSecrets, AirflowSpec


def render(spec: AirflowSpec, secrets: AirflowSecrets) -> list[c.Obj]:
    """Pure: the same spec and secrets always give the same objects (and the same bytes once serialised)."""
    pod_template = _pod_template(spec)
    objects = [
        limits.limit_range(spec),
        *limits.nfs_volumes(spec),
        *workloads.volume_claims(spec),
        *access.service_accounts(spec),
        *settings.secret_objects(spec, secrets),
        *settings.config_maps(spec, worker_pod_template=pod_template),
        *access.roles(spec),
        *network.services(spec),
        *network.network_policies(spec),
        *workloads.all_workloads(spec),
        *network.ingresses(spec),
        limits.resource_quota(spec),
    ]
    workloads.annotate_settings(spec, objects, key=secrets.webserver_secret_key, settings_text=_settings_text(spec))
    return objects


def _settings_text(spec: AirflowSpec) -> str:
    """What Airflow pods read only at start (see ``workloads.annotate_settings``), as one text."""
    parts = {
        "airflow.cfg": settings.airflow_cfg(spec),
        "pod_template": _pod_template(spec),
        "env": sorted(spec.env_vars),
        # git-sync reads its key and known hosts by subPath, which a Secret update does not reach
        "git-sync": [spec.git_ssh_key, spec.git_known_hosts],
    }
    return json.dumps(parts, sort_keys=True)


def _pod_template(spec: AirflowSpec) -> c.Obj | None:
    return workloads.worker_pod_template(spec) if spec.executor is Executor.KUBERNETES else None
