"""git-sync DAG deploys on the dev cluster's fake nodes: ``airpool serve`` with its in-process commander, GraphQL as
the astro CLI sends it. Commander renders the SSH key and known hosts into a Secret (and nowhere else: not in a pod
spec, a ConfigMap or its own log), gives every DAG reader the git-sync init container and sidecar, points Airflow's
dags_folder at the published checkout, and a settings update rolls the new settings out."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import lightkube
import pytest
import yaml
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Secret

from airpool.devcluster import ClusterInfo
from tests.support import cluster as cluster_support
from tests.support import commander_env
from tests.support.api_server import GraphQL, serve_process

pytestmark = pytest.mark.slow

REPO = "ssh://git@git.example.com/srv/git/dags.git"
CREATE = """
mutation($ws: Uuid!, $namespace: String, $dag: DagDeployment) {
  createDeployment(label: "gitty", workspaceUuid: $ws, executor: CeleryExecutor, namespace: $namespace,
                   dagDeployment: $dag) { id releaseName }
}"""
UPDATE = """
mutation($id: Uuid!, $dag: DagDeployment) { updateDeployment(deploymentUuid: $id, dagDeployment: $dag) { id } }"""
STATUS = "query($ws: Uuid!) { workspaceDeployments(workspaceUuid: $ws) { id status statusMessage } }"
DELETE = "mutation($id: Uuid!) { deleteDeployment(deploymentUuid: $id, deploymentHardDelete: true) { id } }"


def values_file(tmp_path: Path, names: tuple[str, ...]) -> Path:
    pools = {"enabled": True, "createRbac": False, "namespaces": {"create": False, "names": list(names)}}
    deployments = {"hardDeleteDeployment": True, "gitSyncDagDeployment": True}
    tree = {
        "global": {"features": {"namespacePools": pools}},
        "astronomer": {"houston": {"config": {"deployments": deployments}}},
        "airpool": {"healthCheckInterval": 3600},
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def _env(container: Any) -> dict[str, str]:
    return {e.name: e.value for e in container.env or []}


def test_git_sync_deployment_gets_its_secret_sidecars_and_dags_folder_and_updates_roll_out(
    tmp_path: Path, sqlite_url: str, dev_cluster: ClusterInfo, admin_client: lightkube.Client
) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")], check=True)
    key = (tmp_path / "key").read_text()
    kind, blob = (tmp_path / "key.pub").read_text().split()[:2]
    known = f"git.example.com {kind} {blob}\n"
    env = {"AIRPOOL_COMMANDER_KUBECONFIG": str(dev_cluster.commander_kubeconfig)}
    with (
        commander_env.pool_namespace(admin_client) as ns,
        serve_process(
            values=values_file(tmp_path, (ns,)),
            database_url=sqlite_url,
            extra_args=["--migrate"],
            env=env,
            commander=True,
        ) as served,
    ):
        client = GraphQL(served.base).signup("admin")
        ws = client.data("query { workspaces { id } }")["workspaces"][0]["id"]
        dag = {
            "type": "git_sync",
            "repositoryUrl": REPO,
            "branchName": "main",
            "dagDirectoryLocation": "dags",
            "syncInterval": 15,
            "sshKey": key,
            "knownHosts": known,
        }
        made = client.data(CREATE, {"ws": ws, "namespace": ns, "dag": dag})["createDeployment"]
        release, dep_id = made["releaseName"], made["id"]

        def state() -> dict[str, Any]:
            return next(d for d in client.data(STATUS, {"ws": ws})["workspaceDeployments"] if d["id"] == dep_id)

        cluster_support.wait_for(
            lambda: state()["status"] == "healthy", timeout=180, interval=0.5, what="the git-sync Deployment healthy"
        )
        secret = admin_client.get(Secret, f"{release}-git-sync-ssh", namespace=ns)
        data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
        assert data == {"gitSshKey": key, "knownHosts": known}

        readers = {"scheduler", "dag-processor", "worker", "triggerer"}
        for component in readers | {"api-server", "flower"}:
            pod = admin_client.get(Deployment, f"{release}-{component}", namespace=ns).spec.template.spec
            inits = {c.name: c for c in pod.initContainers or []}
            sidecars = {c.name: c for c in pod.containers}
            if component not in readers:
                assert "git-sync" not in sidecars, component
                assert "git-sync-init" not in inits, component
                continue
            init, sidecar = inits["git-sync-init"], sidecars["git-sync"]
            assert _env(init)["GITSYNC_ONE_TIME"] == "true"
            assert (_env(sidecar)["GITSYNC_REPO"], _env(sidecar)["GITSYNC_REF"]) == (REPO, "main")
            assert _env(sidecar)["GITSYNC_PERIOD"] == "15s"
            assert _env(sidecar)["GITSYNC_SSH_KNOWN_HOSTS_FILE"] == "/etc/git-secret/known_hosts"
            airflow = sidecars[component]
            assert any(m.name == "dags" and m.mountPath == "/opt/airflow/dags" for m in airflow.volumeMounts or [])
            # the key reaches the pod only through the Secret volume
            assert key.splitlines()[1] not in str(pod.to_dict())
        config = admin_client.get(ConfigMap, f"{release}-config", namespace=ns)
        assert "dags_folder = /opt/airflow/dags/repo/dags" in (config.data or {})["airflow.cfg"]
        for cm in admin_client.list(ConfigMap, namespace=ns):
            assert key.splitlines()[1] not in str(cm.data)

        # a new branch and interval: the pods' git-sync settings follow
        client.data(UPDATE, {"id": dep_id, "dag": {"type": "git_sync", "branchName": "release", "syncInterval": 120}})

        def scheduler_ref() -> tuple[str, str]:
            pod = admin_client.get(Deployment, f"{release}-scheduler", namespace=ns).spec.template.spec
            found = _env(next(c for c in pod.containers if c.name == "git-sync"))
            return found["GITSYNC_REF"], found["GITSYNC_PERIOD"]

        cluster_support.wait_for(
            lambda: scheduler_ref() == ("release", "120s"), timeout=180, interval=0.5, what="the new branch rolled out"
        )
        assert key.splitlines()[1] not in served.log.read_text()

        client.data(DELETE, {"id": dep_id})
        cluster_support.wait_for(
            lambda: not [s for s in admin_client.list(Secret, namespace=ns) if s.metadata.name.startswith(release)],
            timeout=120,
            interval=0.5,
            what="the Deployment's Secrets gone",
        )
