"""Shared parts of the real-node Airflow tests: one ``airpool serve`` (with its in-process commander acting with
commander's own token) over a few pool namespaces of the real-node dev cluster, Deployments created through the
API, DAG runs through Airflow's own REST API, and what a namespace holds before and after.

DAG files come from an admin-made ConfigMap mounted through ``airpool.airflow.extraVolumes`` (documented in
docs/configuration.md): what airpool renders for users is unchanged. Test modules use ``served_pool`` in a
module-scoped fixture and keep at most two Deployments running at once (each takes 1-2 GiB and much CPU).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightkube
import yaml
from lightkube import ApiError
from lightkube.core.resource import NamespacedResource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment, ReplicaSet, StatefulSet
from lightkube.resources.batch_v1 import CronJob, Job
from lightkube.resources.core_v1 import (
    ConfigMap,
    Endpoints,
    LimitRange,
    Node,
    PersistentVolumeClaim,
    Pod,
    ResourceQuota,
    Secret,
    Service,
    ServiceAccount,
)
from lightkube.resources.networking_v1 import Ingress, NetworkPolicy
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from airpool.devcluster import images
from tests.support import airflow_api, commander_env
from tests.support.api_server import GraphQL, Served, airpool_executable, serve_process
from tests.support.realnode import RealNodeCluster

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

#: The overlay that points Deployments at the images built here (docs/devcluster.md).
IMAGE_OVERLAY = Path(__file__).resolve().parents[2] / "examples" / "values-dev-realnode.yaml"

#: Figures printed at the end of a module (``-s`` or the CI log): create -> healthy, first DAG run, memory.
FIGURES: list[str] = []


def load_aware(seconds: float) -> float:
    """A limit that grows with the machine's load: Airflow's execution API took 45 s for one call at load 18."""
    per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return seconds * min(max(1.0, per_core), 4.0)


def wait_until(
    predicate: Callable[[], Any], *, base: float, what: str | Callable[[], str], interval: float = 3.0
) -> Any:
    started = time.monotonic()
    last: Any = None
    while time.monotonic() - started < load_aware(base):
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    said = what() if callable(what) else what
    raise AssertionError(f"{said}: not within {time.monotonic() - started:.0f} s (last: {last!r})")


def quietly(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception:  # the API server may restart or answer slowly while the node is loaded
        return None


@dataclass
class Env:
    served: Served
    client: GraphQL
    ws: str
    admin: lightkube.Client
    pool: tuple[str, ...]
    values: list[Path]
    database_url: str
    #: The cluster admin's kubeconfig (the test's own view; commander uses its own token).
    kubeconfig: Path
    #: What each pool namespace held before any Deployment (the pool's own objects and the admin's DAG ConfigMap).
    baseline: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    def status(self, dep_id: str) -> dict[str, Any]:
        found = self.client.data(DEPLOYMENTS, {"ws": self.ws})["workspaceDeployments"]
        return next((d for d in found if d["id"] == dep_id), {"status": "gone", "statusMessage": ""})

    def available(self) -> set[str]:
        return {n["name"] for n in self.client.data(AVAILABLE)["availableNamespaces"]}

    def pool_state(self, name: str) -> str:
        return str(next(n["state"] for n in self.client.data(POOL)["poolStatus"]["namespaces"] if n["name"] == name))

    def airpool(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """The ``airpool`` command line of this installation (same values files and database)."""
        files = [a for v in self.values for a in ("-f", str(v))]
        return subprocess.run(
            [airpool_executable(), *args, *files],
            env={**os.environ, "AIRPOOL_DATABASE_URL": self.database_url},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def dags_configmap(namespace: str) -> ConfigMap:
    return ConfigMap(
        metadata=ObjectMeta(name=DAGS_CONFIGMAP, namespace=namespace),
        data={"airpool_smoke.py": airflow_api.SMOKE_DAG},
    )


def values_files(tmp_path: Path, names: tuple[str, ...]) -> list[Path]:
    pools = {"enabled": True, "createRbac": False, "namespaces": {"create": False, "names": list(names)}}
    tree = {
        "global": {"features": {"namespacePools": pools}},
        "astronomer": {"houston": {"config": {"deployments": {"hardDeleteDeployment": True}}}},
        "airpool": {
            "healthCheckInterval": 30,
            # A soft delete's retention ends at once; the tests run ``airpool cleanup`` (the server's own schedule
            # is off: ``--no-cleanup``) to finish it when they choose.
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
    return [path, IMAGE_OVERLAY]


def import_images(cluster: RealNodeCluster, airflow_versions: tuple[str, ...]) -> None:
    """Every image the overlay names, built here (cached by its inputs: ``airpool dev images``) and imported into
    the node's containerd."""
    configured = yaml.safe_load(IMAGE_OVERLAY.read_text())["airpool"]["images"]
    references = [f"{configured['airflow']['repository']}:{version}" for version in airflow_versions]
    for key in ("postgresql", "redis", "pgbouncer", "statsd"):
        references.append(f"{configured[key]['repository']}:{configured[key]['tag']}")
    recipes = [images.by_reference(reference) for reference in references]
    for built in images.build(recipes, report=lambda _: None):
        cluster.import_image(built.archive)


@contextlib.contextmanager
def served_pool(
    cluster: RealNodeCluster, tmp_path: Path, *, namespaces: int, airflow_versions: tuple[str, ...]
) -> Iterator[Env]:
    """``namespaces`` fresh pool namespaces (each with the DAG ConfigMap) served by one ``airpool serve``."""
    database_url = f"sqlite:///{tmp_path / 'airpool.db'}"
    admin = cluster.admin_client()
    import_images(cluster, airflow_versions)
    with contextlib.ExitStack() as stack:
        names = tuple(stack.enter_context(commander_env.pool_namespace(admin)) for _ in range(namespaces))
        for ns in names:
            admin.create(dags_configmap(ns))
        values = values_files(tmp_path, names)
        served = stack.enter_context(
            serve_process(
                values=values[0],
                more_values=values[1:],
                database_url=database_url,
                extra_args=["--migrate", "--no-cleanup"],
                env={"AIRPOOL_COMMANDER_KUBECONFIG": str(cluster.info.commander_kubeconfig)},
                commander=True,
                fake_nodes=False,
            )
        )
        client = GraphQL(served.base).signup("admin")
        ws = client.data("query { workspaces { id } }")["workspaces"][0]["id"]
        e = Env(served, client, ws, admin, names, values, database_url, cluster.info.admin_kubeconfig)
        wait_until(lambda: set(names) <= e.available(), base=120, what="the pool namespaces offered")
        e.baseline = {ns: namespace_contents(admin, ns) for ns in names}
        try:
            yield e
        finally:
            if FIGURES:
                print("\nreal-node figures:\n  " + "\n  ".join(FIGURES), file=sys.stderr)
                FIGURES.clear()


#: Every kind a Deployment's objects (or the controllers acting on them) can leave in a namespace.
CONTENT_KINDS: tuple[type[NamespacedResource], ...] = (
    Pod,
    PersistentVolumeClaim,
    Secret,
    ConfigMap,
    ServiceAccount,
    Service,
    Endpoints,
    Deployment,
    ReplicaSet,
    StatefulSet,
    Job,
    CronJob,
    Role,
    RoleBinding,
    ResourceQuota,
    LimitRange,
    NetworkPolicy,
    Ingress,
)


def namespace_contents(admin: lightkube.Client, namespace: str) -> dict[str, set[str]]:
    """``Kind -> names`` of everything of ``CONTENT_KINDS`` in the namespace."""
    return {kind.__name__: {o.metadata.name for o in admin.list(kind, namespace=namespace)} for kind in CONTENT_KINDS}


def leftovers(e: Env, namespace: str) -> dict[str, set[str]]:
    """What the namespace holds beyond what it held before any Deployment (empty when clean)."""
    now = namespace_contents(e.admin, namespace)
    before = e.baseline[namespace]
    return {kind: names - before[kind] for kind, names in now.items() if names - before[kind]}


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


def wait_healthy(e: Env, dep: Created, *, what: str, base: float = 900) -> float:
    """Until commander says ``healthy`` (Airflow's own health endpoint and every workload): seconds taken. An
    unhealthy moment while Airflow starts (a probe timing out on a loaded node) is allowed only if it heals."""
    started = time.monotonic()
    wait_until(
        lambda: e.status(dep.id)["status"] == "healthy",
        base=base,
        what=lambda: f"{what} healthy (now: {e.status(dep.id)})",
    )
    message = e.status(dep.id)["statusMessage"]
    assert "Airflow reports metadatabase, scheduler" in message, message
    return time.monotonic() - started


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
    wait_healthy(e, dep, what=f"{executor} {version}")
    dep.healthy_after = time.monotonic() - started
    FIGURES.append(f"{executor} Airflow {version}: create -> healthy {dep.healthy_after:.0f} s")
    no_text_in_logs(e, dep.namespace, airflow_api.admin_password(e.admin, dep.namespace, dep.release), "admin password")
    no_text_in_logs(e, dep.namespace, "Password for user", "a generated password")
    return dep


def container_logs(e: Env, namespace: str) -> Iterator[tuple[str, str]]:
    """``(pod/container, log)`` of every container (current and previous run) in the namespace."""
    for pod in e.admin.list(Pod, namespace=namespace):
        containers = [c.name for c in (pod.spec.initContainers or []) + pod.spec.containers] if pod.spec else []
        for container in containers:
            for previous in ("false", "true"):
                # lightkube's log() has no ``previous``: the API server's log endpoint, through its HTTP client.
                answer = e.admin._client._client.get(
                    f"/api/v1/namespaces/{namespace}/pods/{pod.metadata.name}/log",
                    params={"container": container, "previous": previous},
                )
                if answer.status_code != 200:
                    continue  # not started (yet), or no previous run: nothing printed
                yield f"{pod.metadata.name}/{container}", answer.text


def no_text_in_logs(e: Env, namespace: str, text: str, what: str) -> None:
    for where, log in container_logs(e, namespace):
        assert text not in log, f"{what} is in the log of {where}"


@dataclass
class DagRun:
    run_id: str
    seconds: float
    tasks: list[dict[str, Any]]
    logs: dict[str, str]
    pods_seen: set[str]

    @property
    def task(self) -> dict[str, Any]:
        (only,) = self.tasks
        return only


def run_dag(
    e: Env,
    dep: Created,
    dag_id: str = airflow_api.SMOKE_DAG_ID,
    *,
    watch_pods: bool = False,
    marker: str = airflow_api.MARKER,
    figure: bool = True,
) -> DagRun:
    """Trigger ``dag_id`` through Airflow's REST API, wait for it to succeed, read every task's log. On a loaded
    node the API server's pod may be unready for a moment and answer slowly: reads are retried until they hold."""
    api = wait_until(
        lambda: quietly(lambda: airflow_api.connect(e.admin, dep.namespace, dep.release, airflow3=dep.airflow3)),
        base=300,
        what="a ready API server",
    )
    wait_until(lambda: quietly(lambda: api.dag_known(dag_id)), base=300, what=f"DAG {dag_id} parsed")
    started = time.monotonic()
    run_id = api.trigger(dag_id)
    seen: set[str] = set()

    def finished() -> str | None:
        if watch_pods:
            for pod in e.admin.list(Pod, namespace=dep.namespace, labels={"dag_id": dag_id}):
                seen.add(pod.metadata.name)
        state = quietly(lambda: api.run_state(dag_id, run_id))
        return state if state in ("success", "failed") else None

    state = wait_until(finished, base=600, what=f"DAG run {dag_id} {run_id} finished", interval=1.0)
    took = time.monotonic() - started
    tasks: list[dict[str, Any]] = wait_until(
        lambda: quietly(lambda: api.task_instances(dag_id, run_id)), base=120, what="the run's task instances"
    )
    logs: dict[str, str] = {}

    def read_logs() -> bool:
        for t in tasks:
            name = str(t.get("map_index", -1)) + ":" + t["task_id"]
            if marker not in logs.get(name, ""):
                got = quietly(lambda t=t: api.task_log(dag_id, run_id, t["task_id"], int(t["try_number"])))
                logs[name] = got if isinstance(got, str) else logs.get(name, "")
        return state != "success" or all(marker in log for log in logs.values())

    wait_until(read_logs, base=120, what=lambda: f"every task's log with {marker!r}: {logs}")
    assert state == "success", (
        f"run {run_id} ended {state}; tasks {json.dumps(tasks)}; logs:\n{logs}\n{component_logs(e, dep)}"
    )
    for name, log in logs.items():
        assert marker in log, (name, log)
    if figure:
        FIGURES.append(f"{dep.executor} Airflow {dep.version}: DAG {dag_id} run {took:.0f} s (trigger -> success)")
    return DagRun(run_id, took, tasks, logs, seen)


def ready_pod_ip(e: Env, dep: Created, component: str) -> str:
    """The IP of a ready pod of ``component`` (a readiness probe may time out for a moment on a loaded node)."""
    ip: str = wait_until(
        lambda: quietly(lambda: airflow_api.api_server_pod_ip(e.admin, dep.namespace, dep.release, component)),
        base=300,
        what=f"a ready {component} pod",
    )
    return ip


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


def memory_mib(e: Env, namespace: str) -> float:
    """Working-set memory of the namespace's pods, from the kubelet's summary API (through the API server)."""
    total = 0
    for node in e.admin.list(Node):
        raw = e.admin._client._client.get(f"/api/v1/nodes/{node.metadata.name}/proxy/stats/summary")
        if raw.status_code != 200:
            continue
        for pod in raw.json().get("pods", []):
            if pod["podRef"]["namespace"] == namespace:
                total += int(pod.get("memory", {}).get("workingSetBytes", 0))
    return total / 2**20


def memory_figure(e: Env, dep: Created) -> None:
    FIGURES.append(
        f"{dep.executor} Airflow {dep.version}: memory of the Deployment {memory_mib(e, dep.namespace):.0f} MiB"
    )


def hard_delete_leaves_only_the_pool(e: Env, dep: Created) -> None:
    """Hard delete: every object of the Deployment gone (pods, claims, Secrets, ...: the namespace holds exactly
    what it held before the Deployment), and the namespace offered again."""
    e.client.data(DELETE, {"id": dep.id, "hard": True})
    wait_until(lambda: dep.namespace in e.available(), base=300, what="the namespace offered again")
    # Endpoints follow their Services a moment later (the endpoints controller removes them).
    wait_until(
        lambda: leftovers(e, dep.namespace) == {},
        base=60,
        what=lambda: f"nothing of the Deployment left (left: {leftovers(e, dep.namespace)})",
    )
    assert [p.metadata.name for p in e.admin.list(Pod, namespace=dep.namespace)] == []
    assert [c.metadata.name for c in e.admin.list(PersistentVolumeClaim, namespace=dep.namespace)] == []
    assert [s.metadata.name for s in e.admin.list(Secret, namespace=dep.namespace)] == []
