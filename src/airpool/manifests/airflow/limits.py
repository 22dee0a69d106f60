"""The Deployment's ResourceQuota and LimitRange, and the NFS volume for DAG deploys over NFS.

The quota bounds what one Deployment (task pods included) may take from a shared cluster; the LimitRange gives
task pods launched without resources the same small defaults as the components.
"""

from __future__ import annotations

import math
from decimal import Decimal

from airpool.domain.sizes import quantity
from airpool.manifests.airflow import common as c
from airpool.manifests.airflow import workloads
from airpool.manifests.airflow.spec import AirflowSpec, DagSource

DAGS_VOLUME_SIZE = "1Gi"

#: The quota of a Deployment of the default size: room for its components, helpers, the migration and cleanup
#: jobs, a rolling update's extra pods and task pods.
BASE_PODS = 60
BASE_QUOTA = {"requests.cpu": "4", "requests.memory": "8Gi", "limits.cpu": "32", "limits.memory": "64Gi"}
_MI = Decimal(2**20)


def _cpu(value: Decimal) -> str:
    return f"{math.ceil(value * 1000)}m"


def _memory(value: Decimal) -> str:
    return f"{math.ceil(value / _MI)}Mi"


def quota_hard(spec: AirflowSpec) -> dict[str, str]:
    """The base quota, grown with the Deployment's size: twice what its resized components take (a rolling
    update runs old and new pods side by side) on top of the base, so a larger Deployment always fits."""
    extra: dict[str, Decimal] = {"pods": Decimal(0)}
    for component in workloads.airflow_components(spec):
        size = workloads.component_size(spec, component)
        if size is None:
            continue
        n = Decimal(size.replicas * 2)
        extra["pods"] += n
        for key, value in (
            ("requests.cpu", size.requests.cpu),
            ("requests.memory", size.requests.memory),
            ("limits.cpu", size.limits.cpu),
            ("limits.memory", size.limits.memory),
        ):
            extra[key] = extra.get(key, Decimal(0)) + quantity(value, key) * n
    hard = {"pods": str(BASE_PODS + int(extra["pods"]))}
    for key in ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory"):
        base = BASE_QUOTA[key]
        if key not in extra:
            hard[key] = base
            continue
        total = quantity(base, key) + extra[key]
        hard[key] = _cpu(total) if key.endswith("cpu") else _memory(total)
    return hard


def resource_quota(spec: AirflowSpec) -> c.Obj:
    return c.obj(
        "v1",
        "ResourceQuota",
        c.meta(spec, c.name(spec, "resource-quota")),
        spec={"hard": quota_hard(spec)},
    )


#: Defaults for a container that names no resources (a task pod launched without any).
LIMIT_DEFAULT = {"cpu": "500m", "memory": "512Mi"}


def _containers(obj: c.Obj) -> list[c.Obj]:
    spec = obj.get("spec", {})
    pod = spec.get("jobTemplate", {}).get("spec", spec).get("template", {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def container_max(spec: AirflowSpec) -> dict[str, str]:
    """The largest CPU and memory limit of any container the Deployment renders (its resized components
    included; a KubernetesExecutor's task pods take the workers' size), never below the defaults."""
    pods = [*workloads.all_workloads(spec)]
    if spec.executor.value == "KubernetesExecutor":
        pods.append({"spec": {"template": workloads.worker_pod_template(spec)}})
    largest = {key: quantity(value, key) for key, value in LIMIT_DEFAULT.items()}
    for obj in pods:
        for container in _containers(obj):
            for key, value in container.get("resources", {}).get("limits", {}).items():
                if key in largest:
                    largest[key] = max(largest[key], quantity(value, key))
    return {"cpu": _canonical_cpu(largest["cpu"]), "memory": _canonical_memory(largest["memory"])}


def _canonical_cpu(value: Decimal) -> str:
    """As the API server writes it back (``1``, ``1500m``), so the applied object reads the same."""
    milli = math.ceil(value * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def _canonical_memory(value: Decimal) -> str:
    mebi = math.ceil(value / _MI)
    return f"{mebi // 1024}Gi" if mebi % 1024 == 0 else f"{mebi}Mi"


def limit_range(spec: AirflowSpec) -> c.Obj:
    """Defaults for containers without resources, and a ``max`` that follows the Deployment's size: no container
    in the namespace may be larger than the Deployment's largest (a resize moves it, as it moves the quota)."""
    return c.obj(
        "v1",
        "LimitRange",
        c.meta(spec, c.name(spec, "limit-range")),
        spec={
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": {"cpu": "10m", "memory": "32Mi"},
                    "default": dict(LIMIT_DEFAULT),
                    "max": container_max(spec),
                }
            ]
        },
    )


def nfs_volumes(spec: AirflowSpec) -> list[c.Obj]:
    """A PersistentVolume for the export (cluster-scoped, so it needs cluster rights) pre-bound to the claim."""
    if spec.dags.source is not DagSource.NFS:
        return []
    claim = c.name(spec, "dags")
    pv = c.obj(
        "v1",
        "PersistentVolume",
        c.meta(spec, spec.nfs_volume_name, "dags", namespaced=False),
        spec={
            "capacity": {"storage": DAGS_VOLUME_SIZE},
            "accessModes": ["ReadOnlyMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "nfs": {"server": spec.dags.nfs_server, "path": spec.dags.nfs_path, "readOnly": True},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": spec.namespace,
                "name": claim,
            },
        },
    )
    pvc = c.obj(
        "v1",
        "PersistentVolumeClaim",
        c.meta(spec, claim, "dags"),
        spec={
            "accessModes": ["ReadOnlyMany"],
            "storageClassName": "",
            "volumeName": spec.nfs_volume_name,
            "resources": {"requests": {"storage": DAGS_VOLUME_SIZE}},
        },
    )
    return [pv, pvc]
