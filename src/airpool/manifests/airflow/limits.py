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


def limit_range(spec: AirflowSpec) -> c.Obj:
    return c.obj(
        "v1",
        "LimitRange",
        c.meta(spec, c.name(spec, "limit-range")),
        spec={
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": {"cpu": "10m", "memory": "32Mi"},
                    "default": {"cpu": "500m", "memory": "512Mi"},
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
