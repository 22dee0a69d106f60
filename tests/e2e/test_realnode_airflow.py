"""Airflow really runs: Deployments created through airpool's API on the dev cluster's real node (containerd,
kubelet, the images built here) reach Airflow's own ``healthy``, run a DAG whose task log is readable, and leave
their pool namespace clean.

One ``airpool serve`` (with its in-process commander, commander's own token) serves every test of the module; at
most two Deployments run at once (each takes 1-2 GiB). DAG files come from an admin-made ConfigMap mounted
through ``airpool.airflow.extraVolumes`` (documented in docs/configuration.md): what airpool renders for users
is unchanged.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightkube
import pytest
import yaml
from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Node, PersistentVolumeClaim, Pod, Secret, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from airpool.commander import uninstall
from airpool.devcluster import images
from airpool.manifests import pool as pool_manifests
from tests.support import airflow_api, commander_env
from tests.support.airflow_realnode import quietly, wait_until
from tests.support.api_server import GraphQL, Served, serve_process
from tests.support.realnode import RealNodeCluster

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

DAGS_CONFIGMAP = "airpool-test-dags"
CREATE = """
mutation($label: String!, $ws: Uuid!, $executor: ExecutorType!, $namespace: String, $version: String) {
  createDeployment(label: $label, workspaceUuid: $ws, executor: $executor, namespace: $namespace,
                   airflowVersion: $version) { id releaseName }
}"""
DEPLOYMENTS = "query($ws: Uuid!) { workspaceDeployments(workspaceUuid: $ws) { id status statusMessage } }"
DELETE = """
mutation($id: Uuid!, $hard: Boolean) { deleteDeployment(deploymentUuid: $id, deploymentHardDelete: $hard) { id } }"""
AVAILABLE = "query { availableNamespaces { name } }"
POOL = "query { poolStatus { namespaces { name state } } }"

#: Figures printed at the end of the session (``-s`` or the CI log): create -> healthy, first DAG run, memory.
FIGURES: list[str] = []


@dataclass
class Env:
    served: Served
    client: GraphQL
    ws: str
    admin: lightkube.Client
    pool: tuple[str, ...]
    values: list[Path]
    database_url: str

    def status(self, dep_id: str) -> dict[str, Any]:
        found = self.client.data(DEPLOYMENTS, {"ws": self.ws})["workspaceDeployments"]
        return next((d for d in found if d["id"] == dep_id), {"status": "gone", "statusMessage": ""})

    def available(self) -> set[str]:
        return {n["name"] for n in self.client.data(AVAILABLE)["availableNamespaces"]}

    def pool_state(self, name: str) -> str:
        return str(next(n["state"] for n in self.client.data(POOL)["poolStatus"]["namespaces"] if n["name"] == name))


def dags_configmap(namespace: str) -> ConfigMap:
    return ConfigMap(
        metadata=ObjectMeta(name=DAGS_CONFIGMAP, namespace=namespace),
        data={"airpool_smoke.py": airflow_api.SMOKE_DAG},
    )


def values_files(tmp_path: Path, names: tuple[str, ...], image_overlay: Path) -> list[Path]:
    pools = {"enabled": True, "createRbac": False, "namespaces": {"create": False, "names": list(names)}}
    tree = {
        "global": {"features": {"namespacePools": pools}},
        "astronomer": {"houston": {"config": {"deployments": {"hardDeleteDeployment": True}}}},
        "airpool": {
            "healthCheckInterval": 30,
            "retentionDays": 0,
            "airflow": {
                # The test's DAG files: an admin-made ConfigMap in each pool namespace, mounted below the DAGs folder.
                "extraVolumes": [{"name": "test-dags", "configMap": {"name": DAGS_CONFIGMAP}}],
                # One file by subPath: a whole ConfigMap directory holds ..data symlinks that Airflow's DAG file
                # discovery refuses as a recursive loop.
                "extraVolumeMounts": [
                    {
                        "name": "test-dags",
                        "mountPath": "/opt/airflow/dags/airpool_smoke.py",
                        "subPath": "airpool_smoke.py",
                        "readOnly": True,
                    }
                ],
            },
        },
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(tree))
    return [path, image_overlay]


#: The overlay that points Deployments at the images built here (docs/devcluster.md).
IMAGE_OVERLAY = Path(__file__).resolve().parents[2] / "examples" / "values-dev-realnode.yaml"


def import_images(cluster: RealNodeCluster) -> None:
    """Every image the overlay names, built here (cached by its inputs: ``airpool dev images``) and imported into
    the node's containerd."""
    recipes = [images.by_reference(reference) for reference in _overlay_references()]
    for built in images.build(recipes, report=lambda _: None):
        cluster.import_image(built.archive)


def _overlay_references() -> list[str]:
    configured = yaml.safe_load(IMAGE_OVERLAY.read_text())["airpool"]["images"]
    out = [f"{configured['airflow']['repository']}:{version}" for version in ("3.3.2",)]
    for key in ("postgresql", "redis", "pgbouncer", "statsd"):
        out.append(f"{configured[key]['repository']}:{configured[key]['tag']}")
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, real_node_cluster: RealNodeCluster) -> Iterator[Env]:
    tmp_path = tmp_path_factory.mktemp("realnode-airflow")
    database_url = f"sqlite:///{tmp_path / 'airpool.db'}"
    admin = real_node_cluster.admin_client()
    import_images(real_node_cluster)
    with contextlib.ExitStack() as stack:
        names = tuple(stack.enter_context(commander_env.pool_namespace(admin)) for _ in range(2))
        for ns in names:
            admin.create(dags_configmap(ns))
        values = values_files(tmp_path, names, IMAGE_OVERLAY)
        served = stack.enter_context(
            serve_process(
                values=values[0],
                more_values=values[1:],
                database_url=database_url,
                extra_args=["--migrate"],
                env={"AIRPOOL_COMMANDER_KUBECONFIG": str(real_node_cluster.info.commander_kubeconfig)},
                commander=True,
                fake_nodes=False,
            )
        )
        client = GraphQL(served.base).signup("admin")
        ws = client.data("query { workspaces { id } }")["workspaces"][0]["id"]
        e = Env(served, client, ws, admin, names, values, database_url)
        wait_until(lambda: set(names) <= e.available(), base=120, what="the pool namespaces offered")
        yield e
        yield_figures()


def yield_figures() -> None:
    if FIGURES:
        print("\nreal-node figures:\n  " + "\n  ".join(FIGURES), file=sys.stderr)


@dataclass
class Created:
    id: str
    release: str
    namespace: str
    executor: str
    version: str
    healthy_after: float = 0.0

    @property
    def airflow3(self) -> bool:
        return self.version.startswith("3")


def create(e: Env, executor: str, namespace: str, version: str) -> Created:
    started = time.monotonic()
    made = e.client.data(
        CREATE,
        {
            "label": f"{executor} {version}",
            "ws": e.ws,
            "executor": executor,
            "namespace": namespace,
            "version": version,
        },
    )["createDeployment"]
    dep = Created(made["id"], made["releaseName"], namespace, executor, version)

    # An unhealthy moment while Airflow starts (a probe timing out on a loaded node) is allowed only if it heals;
    # the limit is what fails the test, with the last status message.
    wait_until(
        lambda: e.status(dep.id)["status"] == "healthy",
        base=900,
        what=lambda: f"{executor} {version} healthy (now: {e.status(dep.id)})",
    )
    dep.healthy_after = time.monotonic() - started
    message = e.status(dep.id)["statusMessage"]
    assert "Airflow reports metadatabase, scheduler, triggerer" in message, message
    FIGURES.append(f"{executor} Airflow {version}: create -> healthy {dep.healthy_after:.0f} s")
    no_credentials_in_logs(e, dep)
    return dep


def no_credentials_in_logs(e: Env, dep: Created) -> None:
    """Airflow's login password lives in its Secret only: no container prints it (or a generated one)."""
    password = airflow_api.admin_password(e.admin, dep.namespace, dep.release)
    for pod in e.admin.list(Pod, namespace=dep.namespace):
        containers = [c.name for c in (pod.spec.initContainers or []) + pod.spec.containers] if pod.spec else []
        for container in containers:
            try:
                text = "".join(e.admin.log(pod.metadata.name, namespace=dep.namespace, container=container))
            except ApiError:
                continue  # not started (yet): nothing printed
            where = f"{pod.metadata.name}/{container}"
            assert password not in text, f"the admin password is in the log of {where}"
            assert "Password for user" not in text, f"a generated password is in the log of {where}"


@dataclass
class DagRun:
    run_id: str
    seconds: float
    task: dict[str, Any]
    log: str
    pods_seen: set[str]


def run_smoke_dag(e: Env, dep: Created, *, watch_pods: bool = False) -> DagRun:
    api = airflow_api.connect(e.admin, dep.namespace, dep.release, airflow3=dep.airflow3)
    wait_until(
        lambda: quietly(lambda: api.dag_known(airflow_api.SMOKE_DAG_ID)),
        base=300,
        what="the DAG parsed from the admin's ConfigMap",
    )
    started = time.monotonic()
    run_id = api.trigger(airflow_api.SMOKE_DAG_ID)
    seen: set[str] = set()

    def finished() -> str | None:
        if watch_pods:
            for pod in e.admin.list(Pod, namespace=dep.namespace, labels={"dag_id": airflow_api.SMOKE_DAG_ID}):
                seen.add(pod.metadata.name)
        state = quietly(lambda: api.run_state(airflow_api.SMOKE_DAG_ID, run_id))
        return state if state in ("success", "failed") else None

    state = wait_until(finished, base=600, what=f"DAG run {run_id} finished", interval=1.0)
    took = time.monotonic() - started
    (task,) = api.task_instances(airflow_api.SMOKE_DAG_ID, run_id)
    log = api.task_log(airflow_api.SMOKE_DAG_ID, run_id, task["task_id"], int(task["try_number"]))
    assert state == "success", (
        f"run {run_id} ended {state}; task {json.dumps(task)}; log:\n{log}\n{component_logs(e, dep)}"
    )
    assert airflow_api.MARKER in log, log
    FIGURES.append(f"{dep.executor} Airflow {dep.version}: first DAG run {took:.0f} s (trigger -> success)")
    return DagRun(run_id, took, task, log, seen)


def component_logs(e: Env, dep: Created, tail: int = 60) -> str:
    """The last lines of the processes that run tasks, for a failure message."""
    out = []
    for component in ("scheduler", "worker", "api-server", "webserver"):
        for pod in e.admin.list(Pod, namespace=dep.namespace, labels={"release": dep.release, "component": component}):
            try:
                text = "".join(e.admin.log(pod.metadata.name, namespace=dep.namespace, tail_lines=tail))
            except ApiError as exc:
                text = f"(no log: {exc.status.message})"
            out.append(f"--- {pod.metadata.name}\n{text}")
    return "\n".join(out)


def memory_figure(e: Env, dep: Created) -> None:
    """Working-set memory of the Deployment's pods, from the kubelet's summary API."""
    total = 0
    for node in e.admin.list(Node):
        raw = e.admin._client._client.get(f"/api/v1/nodes/{node.metadata.name}/proxy/stats/summary")
        if raw.status_code != 200:
            continue
        for pod in raw.json().get("pods", []):
            if pod["podRef"]["namespace"] == dep.namespace:
                total += int(pod.get("memory", {}).get("workingSetBytes", 0))
    FIGURES.append(f"{dep.executor} Airflow {dep.version}: memory of the Deployment {total / 2**20:.0f} MiB")


def hard_delete_leaves_only_the_pool(e: Env, dep: Created) -> None:
    e.client.data(DELETE, {"id": dep.id, "hard": True})
    wait_until(lambda: dep.namespace in e.available(), base=300, what="the namespace offered again")
    assert uninstall.remaining(e.admin, dep.namespace, dep.id) == []
    assert [p.metadata.name for p in e.admin.list(Pod, namespace=dep.namespace)] == []
    assert [c.metadata.name for c in e.admin.list(PersistentVolumeClaim, namespace=dep.namespace)] == []
    assert [s.metadata.name for s in e.admin.list(Secret, namespace=dep.namespace)] == []
    assert {a.metadata.name for a in e.admin.list(ServiceAccount, namespace=dep.namespace)} == {"default"}
    maps = {m.metadata.name for m in e.admin.list(ConfigMap, namespace=dep.namespace)}
    assert maps == {"kube-root-ca.crt", DAGS_CONFIGMAP}  # the admin's DAG ConfigMap is not the Deployment's
    role = pool_manifests.commander_role_name(commander_env.CONFIG)
    assert {r.metadata.name for r in e.admin.list(Role, namespace=dep.namespace)} == {role}
    assert {b.metadata.name for b in e.admin.list(RoleBinding, namespace=dep.namespace)} == {role}


def test_local_and_celery_executors_run_a_dag_and_hard_delete_returns_the_namespace(env: Env) -> None:
    local_ns, celery_ns = env.pool
    with ThreadPoolExecutor(max_workers=2) as pool:
        local_f = pool.submit(create, env, "LocalExecutor", local_ns, "3.3.2")
        celery_f = pool.submit(create, env, "CeleryExecutor", celery_ns, "3.3.2")
        local, celery = local_f.result(), celery_f.result()
        local_run, celery_run = pool.map(lambda d: run_smoke_dag(env, d), (local, celery))
    scheduler_ip = airflow_api.api_server_pod_ip(env.admin, local_ns, local.release, "scheduler")
    assert local_run.task["hostname"] == scheduler_ip  # LocalExecutor: the scheduler ran it
    worker_ip = airflow_api.api_server_pod_ip(env.admin, celery_ns, celery.release, "worker")
    assert celery_run.task["hostname"] == worker_ip  # a Celery worker ran it, handed over through Redis
    metadata = env.admin.get(Secret, f"{celery.release}-metadata", namespace=celery_ns)
    assert metadata.data is not None
    # Every Airflow process (the worker included) reaches its database through PgBouncer.
    assert f"@{celery.release}-pgbouncer.{celery_ns}:6543/" in base64.b64decode(metadata.data["connection"]).decode()
    for dep in (local, celery):
        memory_figure(env, dep)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda d: hard_delete_leaves_only_the_pool(env, d), (local, celery)))
