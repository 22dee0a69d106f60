"""The Deployment's ResourceQuota and LimitRange, and the NFS volume for DAG deploys over NFS.

The quota bounds what one Deployment (task pods included) may take from a shared cluster; the LimitRange gives
task pods launched without resources the same small defaults as the components.
"""

from __future__ import annotations

from airpool.manifests.airflow import common as c
from airpool.manifests.airflow.spec import AirflowSpec, DagSource

DAGS_VOLUME_SIZE = "1Gi"


def resource_quota(spec: AirflowSpec) -> c.Obj:
    return c.obj(
        "v1",
        "ResourceQuota",
        c.meta(spec, c.name(spec, "resource-quota")),
        spec={
            "hard": {
                "pods": "60",
                "requests.cpu": "4",
                "requests.memory": "8Gi",
                "limits.cpu": "32",
                "limits.memory": "64Gi",
            }
        },
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
