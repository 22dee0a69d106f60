"""git-sync DAG deploys on the dev cluster's fake nodes: ``airpool serve`` with its in-process commander, GraphQL as
the astro CLI sends it. Commander renders the SSH key and known hosts into a Secret (and nowhere else: not in a pod
spec, a ConfigMap or its own log), gives every DAG reader the git-sync init container and sidecar, points Airflow's
dags_folder at the published checkout, and a settings update rolls the new settings out. A sidecar whose fetch
fails after good ones ends at once and commander names the cause at its next status check: the dev image of
git-sync's interface run as a process with the rendered settings, and its termination as the kubelet reports it."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import lightkube
import pytest
import yaml
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Pod, Secret
from lightkube.types import PatchType

from airpool.commander import status
from airpool.devcluster import ClusterInfo
from airpool.domain import dags
from airpool.manifests.airflow import gitsync
from airpool.manifests.airflow.spec import AirflowSpec, DagDeployment
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


#: What git-sync prints when its fetch is refused (v4's JSON log line; the dev image prints the same shape).
REFUSED = json.dumps(
    {
        "msg": "too many failures, aborting",
        "error": f"fetching main of {REPO}: git@git.example.com: Permission denied (publickey). fatal: Could not "
        "read from remote repository.",
    }
)


def _sidecar_status(client: lightkube.Client, namespace: str, pod_name: str, *, failed: bool) -> None:
    """What the kubelet reports for a pod whose git-sync sidecar synced, then failed a fetch and ended (waiting to
    be restarted), or, ``failed`` false, runs again after that failure (kwok runs no containers)."""
    pod = client.get(Pod, pod_name, namespace=namespace)
    statuses = [c.to_dict() for c in pod.status.containerStatuses]
    ended = {"terminated": {"exitCode": 1, "reason": "Error", "message": REFUSED}}
    for cs in statuses:
        if cs["name"] == gitsync.SIDECAR:
            cs.update(restartCount=1, lastState=ended, ready=not failed)
            cs["state"] = (
                {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}}
                if failed
                else {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
            )
    client.patch(
        Pod.Status,
        pod_name,
        {"status": {"containerStatuses": statuses}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )


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

        # The scheduler's sidecar fails a fetch after good syncs: commander's next status check names the cause
        # and the pod; once the restarted sidecar runs again the Deployment is healthy again.
        scheduler_pod = next(
            p.metadata.name
            for p in admin_client.list(Pod, namespace=ns, labels={"component": "scheduler"})
            if p.status is not None and p.status.phase == "Running"
        )
        _sidecar_status(admin_client, ns, scheduler_pod, failed=True)
        cluster_support.wait_for(
            lambda: state()["status"] == "unhealthy", timeout=120, interval=0.5, what="the failed sync reported"
        )
        message = state()["statusMessage"]
        assert message.startswith(
            f"git-sync cannot fetch {REPO}: the git server refused the SSH key (check dagDeployment.sshKey) ("
        ), message
        assert f"(pods: {scheduler_pod})" in message
        _sidecar_status(admin_client, ns, scheduler_pod, failed=False)
        cluster_support.wait_for(
            lambda: state()["status"] == "healthy", timeout=120, interval=0.5, what="healthy once the sidecar runs"
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


STAND_IN = Path(__file__).resolve().parents[2] / "tools" / "images" / "files" / "git-sync.sh"


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_a_sidecar_that_synced_ends_on_its_first_failed_fetch_saying_why(tmp_path: Path) -> None:
    """The dev image's git-sync program (``tools/images/files/git-sync.sh``) run with the settings commander renders
    for the sidecar: it publishes commits every period, and the first fetch that fails after that ends it with
    git's words as its last log line (the pod's termination message), which commander turns into the cause."""
    work, origin = tmp_path / "work", tmp_path / "dags.git"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    (work / "dags").mkdir()
    (work / "dags" / "a.py").write_text("one = 1\n")
    _git("add", ".", cwd=work)
    _git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(origin), cwd=tmp_path)
    url = f"file://{origin}"
    git = dags.GitSync(repository_url=url, branch_name="main", dag_directory_location="dags", sync_interval=1)
    spec = AirflowSpec(
        deployment_id="d",
        release_name="r",
        namespace="n",
        dags=DagDeployment.of(dags.DagDeploy(type=dags.DagDeployType.GIT_SYNC, git=git)),
    )
    env = {e["name"]: e["value"] for e in gitsync.container(spec, one_time=False)["env"]}
    assert env["GITSYNC_MAX_FAILURES"] == "0"
    root = tmp_path / "root"
    env["GITSYNC_ROOT"] = str(root)  # the emptyDir
    published = root / gitsync.LINK / "dags" / "a.py"
    log = tmp_path / "git-sync.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", str(STAND_IN)],
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            cluster_support.wait_for(published.exists, timeout=120, interval=0.2, what="the first sync published")
            (work / "dags" / "a.py").write_text("two = 2\n")
            _git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am", "two", cwd=work)
            _git("push", "-q", str(origin), "main", cwd=work)
            cluster_support.wait_for(
                lambda: published.read_text() == "two = 2\n", timeout=120, interval=0.2, what="the second commit"
            )
            shutil.rmtree(origin)  # the repository goes away: the next fetch fails
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert code != 0
    lines = log.read_text().splitlines()
    failures = [line for line in lines if "fatal" in line or "fail" in line]
    assert len(failures) == 1, lines  # it ended on its first failed fetch, with no retries first
    assert published.read_text() == "two = 2\n"  # the last good checkout stays for Airflow
    # The kubelet's FallbackToLogsOnError message: the end of the log.
    why = status.git_sync_problem(log.read_text()[-2048:], repository=url)
    assert why.startswith(f"git-sync cannot fetch {url}: there is no repository at dagDeployment.repositoryUrl ("), why
    assert "does not appear to be a git repository" in why
