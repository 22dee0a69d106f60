"""Names, labels and small object builders shared by every component of an Airflow Deployment.

Selector labels (``tier``, ``component``, ``release``) never change after the first apply because Kubernetes
refuses to change a workload's selector; everything else may evolve with the platform.
"""

from __future__ import annotations

import base64
from typing import Any

from airpool.config.model import ImageRef, Persistence
from airpool.manifests import pool
from airpool.manifests.airflow.spec import AirflowSpec

Obj = dict[str, Any]

MANAGED_BY = pool.MANAGED_BY
MANAGED_BY_VALUE = pool.MANAGED_BY_VALUE
DEPLOYMENT_LABEL = "airpool.io/deployment"
RELEASE_LABEL = "airpool.io/release"
COMPONENT_LABEL = "component"
#: On objects that hold a Deployment's data (the in-namespace PostgreSQL's claim): a soft delete keeps them until
#: the retention ends, when the purge removes them.
KEEP_ON_SOFT_DELETE_LABEL = "airpool.io/keep-on-soft-delete"

AIRFLOW_HOME = "/opt/airflow"
DAGS_FOLDER = f"{AIRFLOW_HOME}/dags"
AIRFLOW_UID = 50000

API_PORT = 8080
WORKER_LOG_PORT = 8793
TRIGGERER_LOG_PORT = 8794
FLOWER_PORT = 5555
REDIS_PORT = 6379
POSTGRES_PORT = 5432
PGBOUNCER_PORT = 6543
PGBOUNCER_METRICS_PORT = 9127
STATSD_INGEST_PORT = 9125
STATSD_SCRAPE_PORT = 9102

SCHEDULER_HEALTH_PORT = 8974
#: The Airflow UI/REST API account airpool creates in each Deployment.
ADMIN_USER = "admin"


def ownership_labels(spec: AirflowSpec) -> dict[str, str]:
    """The labels uninstall and health checks select on: every object commander creates carries them."""
    return {
        MANAGED_BY: MANAGED_BY_VALUE,
        DEPLOYMENT_LABEL: spec.deployment_id,
        RELEASE_LABEL: spec.release_name,
    }


def deployment_selector(deployment_id: str) -> str:
    return f"{MANAGED_BY}={MANAGED_BY_VALUE},{DEPLOYMENT_LABEL}={deployment_id}"


def selector_labels(spec: AirflowSpec, component: str) -> dict[str, str]:
    return {"tier": "airflow", COMPONENT_LABEL: component, "release": spec.release_name}


def labels(spec: AirflowSpec, component: str | None = None) -> dict[str, str]:
    out = dict(spec.platform_labels)
    out["platform"] = spec.platform_release
    out["tier"] = "airflow"
    out["release"] = spec.release_name
    if component is not None:
        out[COMPONENT_LABEL] = component
    out.update(ownership_labels(spec))
    return out


def name(spec: AirflowSpec, suffix: str) -> str:
    return f"{spec.release_name}-{suffix}"


def sa_name(spec: AirflowSpec, component: str) -> str:
    return f"{spec.release_name}-airflow-{component}"


def meta(spec: AirflowSpec, object_name: str, component: str | None = None, *, namespaced: bool = True) -> Obj:
    m: Obj = {"name": object_name, "labels": labels(spec, component)}
    if namespaced:
        m["namespace"] = spec.namespace
    return m


def obj(api_version: str, kind: str, metadata: Obj, **body: Any) -> Obj:
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}


def secret(spec: AirflowSpec, object_name: str, data: dict[str, str], component: str | None = None) -> Obj:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in sorted(data.items())}
    return obj("v1", "Secret", meta(spec, object_name, component), type="Opaque", data=encoded)


def config_map(spec: AirflowSpec, object_name: str, data: dict[str, str], component: str | None = None) -> Obj:
    return obj("v1", "ConfigMap", meta(spec, object_name, component), data=data)


def service_account(spec: AirflowSpec, component: str) -> Obj:
    return obj("v1", "ServiceAccount", meta(spec, sa_name(spec, component), component))


def resources(cpu: str = "10m", memory: str = "32Mi", *, cpu_limit: str = "500m", memory_limit: str = "512Mi") -> Obj:
    """Small requests so that many Deployments fit on the dev cluster's nodes; limits fit what each process
    really uses (an Airflow process with its imports needs a few hundred MiB)."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def image_fields(image: ImageRef, default_tag: str | None = None) -> Obj:
    """``image`` and ``imagePullPolicy`` of a container, from the configured image."""
    return {"image": image.ref(default_tag), "imagePullPolicy": image.pull_policy}


def pull_secrets(spec: AirflowSpec) -> list[Obj]:
    """``imagePullSecrets`` of every pod (``airpool.registry.secretName``)."""
    return [{"name": spec.images.pull_secret}] if spec.images.pull_secret else []


def persistent_volume_claim(
    spec: AirflowSpec, object_name: str, component: str, p: Persistence, *, data: bool = False
) -> Obj:
    """A claim on the configured StorageClass (none named: the cluster's default class); ``data``: kept by a soft
    delete until its retention ends."""
    body: Obj = {"accessModes": [p.access_mode], "resources": {"requests": {"storage": p.size}}}
    if p.storage_class:
        body["storageClassName"] = p.storage_class
    metadata = meta(spec, object_name, component)
    if data:
        metadata["labels"][KEEP_ON_SOFT_DELETE_LABEL] = "true"
    return obj("v1", "PersistentVolumeClaim", metadata, spec=body)


def service(
    spec: AirflowSpec,
    component: str,
    ports: list[Obj],
    *,
    object_name: str | None = None,
    headless: bool = False,
) -> Obj:
    body: Obj = {"selector": selector_labels(spec, component), "ports": ports}
    if headless:
        body["clusterIP"] = "None"
    return obj("v1", "Service", meta(spec, object_name or name(spec, component), component), spec=body)


def port(port_name: str, number: int, protocol: str = "TCP") -> Obj:
    return {"name": port_name, "port": number, "targetPort": number, "protocol": protocol}


def secret_env(env_name: str, secret_name: str, key: str) -> Obj:
    return {"name": env_name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}
