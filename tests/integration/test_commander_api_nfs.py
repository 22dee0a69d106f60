"""NFS DAG deploys end to end: ``airpool serve`` with its in-process commander, GraphQL over HTTP as the astro
CLI sends it, a pool namespace an admin prepared, ``global.clusterRoles: true`` with NFS enabled (commander
granted persistentvolumes cluster-wide, as the chart's ClusterRole does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightkube
import pytest
import yaml
from lightkube import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim

from airpool.commander import uninstall
from airpool.devcluster import ClusterInfo
from airpool.manifests import rbac
from tests.support import cluster as cluster_support
from tests.support import commander_env
from tests.support.api_server import GraphQL, serve_process

pytestmark = pytest.mark.slow

LOCATION = "nfs.example.com:/exports/dags"
CREATE = """
mutation($ws: Uuid!, $namespace: String, $dag: DagDeployment) {
  createDeployment(label: "nfs", workspaceUuid: $ws, executor: CeleryExecutor, namespace: $namespace,
                   dagDeployment: $dag) { id releaseName dagDeployment { type nfsLocation } }
}"""
STATUS = "query($ws: Uuid!) { workspaceDeployments(workspaceUuid: $ws) { id status statusMessage } }"
DELETE = "mutation($id: Uuid!) { deleteDeployment(deploymentUuid: $id, deploymentHardDelete: true) { id } }"
AVAILABLE = "query { availableNamespaces { name } }"


def values_file(tmp_path: Path, names: tuple[str, ...]) -> Path:
    pools = {"enabled": True, "createRbac": False, "namespaces": {"create": False, "names": list(names)}}
    deployments = {"hardDeleteDeployment": True, "nfsMountDagDeployment": True, "configureDagDeployment": True}
    tree = {
        "global": {"clusterRoles": True, "features": {"namespacePools": pools}},
        "astronomer": {"houston": {"config": {"deployments": deployments}}},
        "airpool": {"healthCheckInterval": 3600},
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def _gone(client: lightkube.Client, resource: Any, name: str, namespace: str | None = None) -> bool:
    try:
        client.get(resource, name, namespace=namespace) if namespace else client.get(resource, name)
    except ApiError as exc:
        return exc.status.code == 404
    return False


def test_nfs_deployment_through_the_api_gets_a_bound_read_only_volume_and_hard_delete_removes_it(
    tmp_path: Path, sqlite_url: str, dev_cluster: ClusterInfo, admin_client: lightkube.Client
) -> None:
    env = {"AIRPOOL_COMMANDER_KUBECONFIG": str(dev_cluster.commander_kubeconfig)}
    with (
        commander_env.pool_namespace(admin_client) as ns,
        commander_env.cluster_grant(admin_client, rbac.PERSISTENT_VOLUME_RULES),
        serve_process(
            values=values_file(tmp_path, (ns,)),
            database_url=sqlite_url,
            extra_args=["--migrate"],
            env=env,
            commander=True,
        ) as served,
    ):
        client = GraphQL(served.base).signup("admin")
        assert client.data("{ appConfig { nfsMountDagDeployment } }")["appConfig"]["nfsMountDagDeployment"] is True
        ws = client.data("query { workspaces { id } }")["workspaces"][0]["id"]
        made = client.data(CREATE, {"ws": ws, "namespace": ns, "dag": {"type": "volume", "nfsLocation": LOCATION}})[
            "createDeployment"
        ]
        assert made["dagDeployment"] == {"type": "volume", "nfsLocation": LOCATION}
        release, dep_id = made["releaseName"], made["id"]

        def state() -> dict[str, Any]:
            return next(d for d in client.data(STATUS, {"ws": ws})["workspaceDeployments"] if d["id"] == dep_id)

        cluster_support.wait_for(
            lambda: state()["status"] == "healthy", timeout=120, interval=0.3, what="the NFS Deployment healthy"
        )
        pv_name = f"{ns}-{release}-dags"
        pv = admin_client.get(PersistentVolume, pv_name)
        assert pv.spec.nfs is not None
        assert (pv.spec.nfs.server, pv.spec.nfs.path) == ("nfs.example.com", "/exports/dags")
        pvc = admin_client.get(PersistentVolumeClaim, f"{release}-dags", namespace=ns)
        assert pvc.status.phase == "Bound"
        assert pvc.spec.volumeName == pv_name
        cluster_support.wait_for(
            lambda: admin_client.get(PersistentVolume, pv_name).status.phase == "Bound",
            timeout=120,
            interval=0.3,
            what="the PersistentVolume bound",
        )

        scheduler = admin_client.get(Deployment, f"{release}-scheduler", namespace=ns).spec.template.spec
        claims = {v.name: v.persistentVolumeClaim for v in scheduler.volumes or [] if v.persistentVolumeClaim}
        assert any(c.claimName == f"{release}-dags" and c.readOnly for c in claims.values()), claims
        mounts = [m for ctr in scheduler.containers for m in ctr.volumeMounts or [] if m.name in claims]
        assert mounts
        assert all(m.mountPath == "/opt/airflow/dags" and m.readOnly for m in mounts), mounts

        client.data(DELETE, {"id": dep_id})
        cluster_support.wait_for(
            lambda: ns in {n["name"] for n in client.data(AVAILABLE)["availableNamespaces"]},
            timeout=60,
            interval=0.3,
            what="the namespace offered again",
        )
        assert _gone(admin_client, PersistentVolumeClaim, f"{release}-dags", ns)
        cluster_support.wait_for(
            lambda: _gone(admin_client, PersistentVolume, pv_name), timeout=120, interval=0.3, what="PV deleted"
        )
        assert uninstall.remaining(admin_client, ns, dep_id, cluster_scoped=True) == []
