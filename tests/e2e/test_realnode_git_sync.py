"""git-sync DAG deploys that really run: an SSH git server on the real node (the test image ``git-server``: OpenSSH
with git-shell, a generated host key and client key), a LocalExecutor Deployment created through airpool's API with
``dagDeployment: {type: git_sync, ...}``. A DAG committed to the server appears in Airflow and its run succeeds; a
second commit changes it (the next run prints the new marker); a key the server does not accept gives a Deployment
status that names the problem. One Deployment for the whole module (Airflow takes 1-2 GiB).

The repository itself lives in a directory of this machine that the git server's pod mounts (hostPath: the real
node is this machine), so the test commits with the host's git and the pods fetch over SSH like any client.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightkube
import pytest
import yaml
from lightkube import ApiError, codecs
from lightkube.resources.core_v1 import Pod, Secret

from airpool.commander import uninstall
from airpool.devcluster import images
from tests.support import airflow_api, commander_env
from tests.support import cluster as cluster_support
from tests.support.airflow_realnode import wait_until
from tests.support.api_server import GraphQL, Served, serve_process
from tests.support.realnode import RealNodeCluster

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

DAG_ID = "airpool_git_sync"
CREATE = """
mutation($ws: Uuid!, $namespace: String, $dag: DagDeployment) {
  createDeployment(label: "git-sync", workspaceUuid: $ws, executor: LocalExecutor, namespace: $namespace,
                   airflowVersion: "3.3.2", dagDeployment: $dag) { id releaseName }
}"""
UPDATE = """
mutation($id: Uuid!, $dag: DagDeployment) { updateDeployment(deploymentUuid: $id, dagDeployment: $dag) { id } }"""
DEPLOYMENTS = "query($ws: Uuid!) { workspaceDeployments(workspaceUuid: $ws) { id status statusMessage } }"
DELETE = "mutation($id: Uuid!) { deleteDeployment(deploymentUuid: $id, deploymentHardDelete: true) { id } }"
AVAILABLE = "query { availableNamespaces { name } }"
FIGURES: list[str] = []
#: The overlay that points Deployments at the images built here (docs/devcluster.md).
IMAGE_OVERLAY = Path(__file__).resolve().parents[2] / "examples" / "values-dev-realnode.yaml"


def dag_file(version: int) -> str:
    return f'''
"""A DAG deployed by git-sync (version {version})."""
from datetime import datetime

from airflow.sdk import dag, task


@dag(dag_id="{DAG_ID}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, description="version {version}")
def from_git():
    @task
    def hello():
        print("GIT-SYNC-DAG-VERSION-{version}")

    hello()


from_git()
'''


class Repository:
    """A bare repository in a world-readable directory of this machine, and a work tree that commits to it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="airpool-git-", dir="/var/tmp"))
        self.root.chmod(0o755)
        self.bare = self.root / "dags.git"
        self.work = Path(tempfile.mkdtemp(prefix="airpool-git-work-"))
        self._git(self.root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        self._git(self.work, "init", "--quiet", "--initial-branch=main")
        self._git(self.work, "remote", "add", "origin", str(self.bare))

    def _git(self, where: Path, *args: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
        env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
        done = subprocess.run(["git", "-C", str(where), *args], env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self._git(self.work, "add", "-A")
        self._git(self.work, "commit", "--quiet", "-m", message)
        self._git(self.work, "push", "--quiet", "origin", "main")
        subprocess.run(["chmod", "-R", "a+rX", str(self.root)], check=True)
        return self._git(self.work, "rev-parse", "HEAD")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)


def keygen(directory: Path, name: str) -> tuple[str, str]:
    path = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return path.read_text(), (directory / f"{name}.pub").read_text()


def git_server_objects(namespace: str, repo_dir: Path, host_key: str, authorized: str) -> list[Any]:
    image = images.find("git-server").reference
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "git-server-keys", "namespace": namespace},
        "data": {
            "ssh_host_ed25519_key": base64.b64encode(host_key.encode()).decode(),
            "authorized_keys": base64.b64encode(authorized.encode()).decode(),
        },
    }
    labels = {"app": "git-server"}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "git-server", "namespace": namespace, "labels": labels},
        "spec": {
            "containers": [
                {
                    "name": "sshd",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "ports": [{"containerPort": 22, "name": "ssh"}],
                    "readinessProbe": {"tcpSocket": {"port": 22}, "periodSeconds": 2},
                    "volumeMounts": [
                        {"name": "keys", "mountPath": "/keys", "readOnly": True},
                        {"name": "repos", "mountPath": "/srv/git", "readOnly": True},
                    ],
                }
            ],
            "volumes": [
                {"name": "keys", "secret": {"secretName": "git-server-keys"}},
                {"name": "repos", "hostPath": {"path": str(repo_dir), "type": "Directory"}},
            ],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "git", "namespace": namespace},
        "spec": {"selector": labels, "ports": [{"name": "ssh", "port": 22, "targetPort": 22}]},
    }
    return [codecs.from_dict(o) for o in (secret, pod, service)]


@dataclass
class Env:
    served: Served
    client: GraphQL
    ws: str
    admin: lightkube.Client
    namespace: str
    repo: Repository
    url: str
    key: str
    wrong_key: str
    known_hosts: str

    def status(self, dep_id: str) -> dict[str, Any]:
        found = self.client.data(DEPLOYMENTS, {"ws": self.ws})["workspaceDeployments"]
        return next((d for d in found if d["id"] == dep_id), {"status": "gone", "statusMessage": ""})


def _values(tmp_path: Path, pool: str) -> Path:
    pools = {"enabled": True, "createRbac": False, "namespaces": {"create": False, "names": [pool]}}
    deployments = {"hardDeleteDeployment": True, "gitSyncDagDeployment": True}
    tree = {
        "global": {"features": {"namespacePools": pools}},
        "astronomer": {"houston": {"config": {"deployments": deployments}}},
        "airpool": {"healthCheckInterval": 30},
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def _import_images(cluster: RealNodeCluster) -> None:
    configured = yaml.safe_load(IMAGE_OVERLAY.read_text())["airpool"]["images"]
    wanted = [f"{configured['airflow']['repository']}:3.3.2"]
    wanted += [f"{configured[k]['repository']}:{configured[k]['tag']}" for k in ("postgresql", "pgbouncer", "statsd")]
    wanted += [f"{configured['gitSync']['repository']}:{configured['gitSync']['tag']}"]
    recipes = [images.by_reference(r) for r in wanted] + [images.find("git-server")]
    for built in images.build(recipes, report=lambda _: None):
        cluster.import_image(built.archive)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, real_node_cluster: RealNodeCluster) -> Iterator[Env]:
    tmp_path = tmp_path_factory.mktemp("realnode-git-sync")
    admin = real_node_cluster.admin_client()
    _import_images(real_node_cluster)
    host_key, host_pub = keygen(tmp_path, "host")
    key, key_pub = keygen(tmp_path, "deploy")
    wrong_key, _ = keygen(tmp_path, "stranger")
    repo = Repository()
    with contextlib.ExitStack() as stack:
        stack.callback(repo.remove)
        git_ns = stack.enter_context(cluster_support.fresh_namespace(admin, prefix="git"))
        for obj in git_server_objects(git_ns, repo.root, host_key, key_pub):
            admin.create(obj)
        host = f"git.{git_ns}.svc.cluster.local"
        kind, blob = host_pub.split()[:2]
        pool = stack.enter_context(commander_env.pool_namespace(admin))
        served = stack.enter_context(
            serve_process(
                values=_values(tmp_path, pool),
                more_values=[IMAGE_OVERLAY],
                database_url=f"sqlite:///{tmp_path / 'airpool.db'}",
                extra_args=["--migrate"],
                env={"AIRPOOL_COMMANDER_KUBECONFIG": str(real_node_cluster.info.commander_kubeconfig)},
                commander=True,
                fake_nodes=False,
            )
        )
        client = GraphQL(served.base).signup("admin")
        ws = client.data("query { workspaces { id } }")["workspaces"][0]["id"]
        e = Env(
            served, client, ws, admin, pool, repo, f"ssh://git@{host}/srv/git/dags.git", key, wrong_key,
            f"{host} {kind} {blob}\n",
        )  # fmt: skip
        wait_until(
            lambda: pool in {n["name"] for n in client.data(AVAILABLE)["availableNamespaces"]},
            base=120,
            what="the pool namespace offered",
        )
        wait_until(lambda: _ready(admin, git_ns, "git-server"), base=180, what="the git server ready")
        yield e
        if FIGURES:
            print("\nreal-node git-sync figures:\n  " + "\n  ".join(FIGURES), file=sys.stderr)


def _ready(admin: lightkube.Client, namespace: str, name: str) -> bool:
    pod = admin.get(Pod, name, namespace=namespace)
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [])) if pod.status else False


def _run(e: Env, api: airflow_api.AirflowApi, release: str, marker: str) -> float:
    started = time.monotonic()
    run_id = api.trigger(DAG_ID)

    def finished() -> str | None:
        with contextlib.suppress(Exception):
            state = api.run_state(DAG_ID, run_id)
            return state if state in ("success", "failed") else None
        return None

    state = wait_until(finished, base=600, what=f"DAG run {run_id} finished", interval=2.0)
    (task,) = api.task_instances(DAG_ID, run_id)
    log = api.task_log(DAG_ID, run_id, task["task_id"], int(task["try_number"]))
    assert state == "success", f"run {run_id} ended {state}; log:\n{log}\n{component_logs_of(e, release)}"
    assert marker in log, log
    return time.monotonic() - started


def component_logs_of(e: Env, release: str, tail: int = 60) -> str:
    """The last lines of the scheduler (which runs the tasks) and its git-sync, for a failure message."""
    out = []
    for pod in e.admin.list(Pod, namespace=e.namespace, labels={"release": release, "component": "scheduler"}):
        for container in ("scheduler", "git-sync"):
            try:
                text = "".join(
                    e.admin.log(pod.metadata.name, namespace=e.namespace, container=container, tail_lines=tail)
                )
            except ApiError as exc:
                text = f"(no log: {exc.status.message})"
            out.append(f"--- {pod.metadata.name}/{container}\n{text}")
    return "\n".join(out)


def _description(api: airflow_api.AirflowApi) -> str | None:
    answer = api.request("GET", f"/dags/{DAG_ID}")
    return str(answer.json().get("description")) if answer.status_code == 200 else None


def test_a_committed_dag_runs_a_second_commit_changes_it_and_a_wrong_key_is_named(env: Env) -> None:
    first = env.repo.commit({"dags/from_git.py": dag_file(1), "README.md": "not a DAG folder\n"}, "first DAG")
    started = time.monotonic()
    dag = {
        "type": "git_sync",
        "repositoryUrl": env.url,
        "branchName": "main",
        "dagDirectoryLocation": "dags",
        "syncInterval": 5,
        "sshKey": env.key,
        "knownHosts": env.known_hosts,
    }
    made = env.client.data(CREATE, {"ws": env.ws, "namespace": env.namespace, "dag": dag})["createDeployment"]
    dep_id, release = made["id"], made["releaseName"]
    wait_until(
        lambda: env.status(dep_id)["status"] == "healthy",
        base=900,
        what=lambda: f"the git-sync Deployment healthy (now: {env.status(dep_id)})",
    )
    FIGURES.append(f"LocalExecutor Airflow 3.3.2 with git-sync: create -> healthy {time.monotonic() - started:.0f} s")

    # the commit is what Airflow parsed, and its run succeeds
    api = airflow_api.connect(env.admin, env.namespace, release, airflow3=True)
    wait_until(lambda: _description(api) == "version 1", base=300, what="the DAG of the first commit parsed")
    took = _run(env, api, release, "GIT-SYNC-DAG-VERSION-1")
    FIGURES.append(f"first git-synced DAG run {took:.0f} s (trigger -> success), commit {first[:8]}")

    # a second commit changes it: the sidecar fetches it, Airflow parses it, the next run prints the new marker
    env.repo.commit({"dags/from_git.py": dag_file(2)}, "second version")
    pushed = time.monotonic()
    wait_until(lambda: _description(api) == "version 2", base=300, what="the DAG of the second commit parsed")
    FIGURES.append(f"second commit -> parsed by Airflow {time.monotonic() - pushed:.0f} s (syncInterval 5 s)")
    _run(env, api, release, "GIT-SYNC-DAG-VERSION-2")

    # the key never leaves its Secret: not in any container's log, nor airpool's
    body = env.key.splitlines()[1]
    for pod in env.admin.list(Pod, namespace=env.namespace):
        names = [c.name for c in (pod.spec.initContainers or []) + pod.spec.containers] if pod.spec else []
        for container in names:
            with contextlib.suppress(ApiError):
                text = "".join(env.admin.log(pod.metadata.name, namespace=env.namespace, container=container))
                assert body not in text, f"{pod.metadata.name}/{container}"
    assert body not in env.served.log.read_text()

    # a key the server does not accept: the Deployment's status names the problem
    env.client.data(UPDATE, {"id": dep_id, "dag": {"type": "git_sync", "sshKey": env.wrong_key}})
    message = wait_until(
        lambda: (s := env.status(dep_id))["status"] == "unhealthy" and "git-sync" in s["statusMessage"] and s,
        base=600,
        what=lambda: f"a status naming the refused key (now: {env.status(dep_id)})",
    )["statusMessage"]
    assert f"git-sync cannot fetch {env.url}: the git server refused the SSH key" in message, message
    assert "Permission denied (publickey)" in message, message
    FIGURES.append(f"wrong key -> status: {message[:160]}")

    env.client.data(DELETE, {"id": dep_id})
    wait_until(
        lambda: env.namespace in {n["name"] for n in env.client.data(AVAILABLE)["availableNamespaces"]},
        base=300,
        what="the namespace offered again",
    )
    assert uninstall.remaining(env.admin, env.namespace, dep_id) == []
    assert [s.metadata.name for s in env.admin.list(Secret, namespace=env.namespace)] == []
