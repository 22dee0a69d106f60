"""Airflow really runs: Deployments created through airpool's API on the dev cluster's real node (containerd,
kubelet, the images built here) reach Airflow's own ``healthy``, run DAGs whose task logs are readable, change
while they live (issue 13: Celery workers 1 -> 2 -> 1, environment variables, executor Local -> Celery) and leave
their pool namespace clean.

Two Deployments (LocalExecutor and CeleryExecutor, Airflow 3), created at once and shared by the module's tests in
order: each change is made to both at once, so the module waits for one rollout per step
(tests/support/airflow_realnode.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod, Secret
from lightkube.resources.rbac_authorization_v1 import RoleBinding

from tests.support import airflow_api, houston_logs
from tests.support import airflow_realnode as rn
from tests.support.api_server import PASSWORD
from tests.support.houston_deployments import UPDATE_DEPLOYMENT, UPDATE_VARIABLES, VARIABLES
from tests.support.realnode import RealNodeCluster

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

# The astro CLI's documents (astro-cli houston package, 0.37 server), as tests/integration/test_api_update.py and
# test_api_variables.py send them.
UPDATE_CONFIG = """
mutation($id: Uuid!, $config: JSON) { updateDeployment(deploymentUuid: $id, config: $config) { id config } }"""
DEPLOYMENT = """
query($id: String!) {
  deployment(where: {id: $id}) { id label description executor statusMessage config urls { type } }
}"""
JOBS = "query($id: Uuid!) { deploymentJobs(deploymentUuid: $id) { kind state } }"
PLAIN_VALUE = "visible-to-tasks"
#: Every component of a CeleryExecutor Deployment with logs (Houston's names; the webserver is Airflow 3's API server).
LOG_COMPONENTS = ("scheduler", "webserver", "worker", "triggerer", "dag-processor")


@dataclass
class Module:
    env: rn.Env
    local: rn.Created
    celery: rn.Created
    #: The secret variable's value: random per run, so finding it anywhere is a leak, never a coincidence.
    secret: str = field(default_factory=lambda: "s3cr3t-" + secrets.token_hex(12))
    #: Every answer the API gave in this module, to search for the secret value.
    answers: list[str] = field(default_factory=list)

    def api(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        data = self.env.client.data(query, variables)
        self.answers.append(json.dumps(data))
        return data


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, real_node_cluster: RealNodeCluster) -> Iterator[rn.Env]:
    tmp_path = tmp_path_factory.mktemp("realnode-airflow")
    with rn.served_pool(real_node_cluster, tmp_path, namespaces=2, airflow_versions=("3.3.2",)) as e:
        yield e


@pytest.fixture(scope="module")
def module(env: rn.Env) -> Module:
    local_ns, celery_ns = env.pool
    with ThreadPoolExecutor(max_workers=2) as pool:
        local = pool.submit(rn.create, env, "LocalExecutor", local_ns, "3.3.2")
        celery = pool.submit(rn.create, env, "CeleryExecutor", celery_ns, "3.3.2")
        return Module(env, local.result(), celery.result())


def settled(m: Module, dep: rn.Created) -> bool:
    """commander's jobs for the Deployment are done, every workload has rolled out (no pod of an older template
    left) and Airflow says healthy."""
    jobs = m.env.client.data(JOBS, {"id": dep.id})["deploymentJobs"]
    if any(j["state"] in ("queued", "running") for j in jobs):
        return False
    for workload in m.env.admin.list(Deployment, namespace=dep.namespace):
        spec, status = workload.spec, workload.status
        wanted = spec.replicas if spec and spec.replicas is not None else 1
        if status is None or (status.observedGeneration or 0) < (workload.metadata.generation or 0):
            return False
        if not (status.updatedReplicas or 0) == (status.readyReplicas or 0) == (status.replicas or 0) == wanted:
            return False
        pods = m.env.admin.list(Pod, namespace=dep.namespace, labels=dict(spec.selector.matchLabels or {}))
        if len(list(pods)) != wanted:
            return False
    return bool(m.env.status(dep.id)["status"] == "healthy")


def wait_settled(m: Module, dep: rn.Created, what: str) -> float:
    started = time.monotonic()
    rn.wait_until(
        lambda: rn.quietly(lambda: settled(m, dep)), base=900, what=lambda: f"{what} (now: {m.env.status(dep.id)})"
    )
    return time.monotonic() - started


def worker_ips(m: Module, dep: rn.Created) -> set[str]:
    selector = {"release": dep.release, "component": "worker"}
    return {p.status.podIP for p in m.env.admin.list(Pod, namespace=dep.namespace, labels=selector) if p.status}


def test_local_and_celery_executors_run_a_dag(module: Module) -> None:
    env, local, celery = module.env, module.local, module.celery
    with ThreadPoolExecutor(max_workers=2) as pool:
        local_run, celery_run = pool.map(lambda d: rn.run_dag(env, d), (local, celery))
    assert local_run.task["hostname"] == rn.ready_pod_ip(env, local, "scheduler")  # LocalExecutor: the scheduler
    # a Celery worker ran it, handed over through Redis
    assert celery_run.task["hostname"] == rn.ready_pod_ip(env, celery, "worker")
    metadata = env.admin.get(Secret, f"{celery.release}-metadata", namespace=celery.namespace)
    assert metadata.data is not None
    # Every Airflow process (the worker included) reaches its database through PgBouncer.
    connection = base64.b64decode(metadata.data["connection"]).decode()
    assert f"@{celery.release}-pgbouncer.{celery.namespace}:6543/" in connection
    for dep in (local, celery):
        rn.memory_figure(env, dep)


@pytest.fixture(scope="module")
def changed(module: Module) -> dict[str, float]:
    """Both changes at once. Celery: a plain and a secret variable, and a second worker. Local: the executor
    becomes Celery (the astro CLI's ``deployment update --executor``)."""
    m, celery, local = module, module.celery, module.local
    items = [
        {"key": airflow_api.PLAIN_VARIABLE, "value": PLAIN_VALUE, "isSecret": False},
        {"key": airflow_api.SECRET_VARIABLE, "value": m.secret, "isSecret": True},
    ]
    answer = m.api(
        UPDATE_VARIABLES,
        {"deploymentUuid": celery.id, "releaseName": celery.release, "environmentVariables": items},
    )["updateDeploymentVariables"]
    assert {(v["key"], v["value"]) for v in answer} == {
        (airflow_api.PLAIN_VARIABLE, PLAIN_VALUE),
        (airflow_api.SECRET_VARIABLE, None),
    }
    scaled = m.api(UPDATE_CONFIG, {"id": celery.id, "config": {"workers": {"replicas": 2}}})["updateDeployment"]
    assert scaled["config"]["workers"]["replicas"] == 2
    sent = {"deploymentId": local.id, "payload": {}, "executor": "CeleryExecutor", "cloudRole": "", "dagDeployment": {}}
    assert m.api(UPDATE_DEPLOYMENT, sent)["updateDeployment"]["id"] == local.id
    with ThreadPoolExecutor(max_workers=2) as pool:
        celery_f = pool.submit(wait_settled, m, celery, "variables and a second worker rolled out")
        local_f = pool.submit(wait_settled, m, local, "LocalExecutor -> CeleryExecutor rolled out")
        took = {"celery": celery_f.result(), "local": local_f.result()}
    rn.FIGURES.append(
        f"update -> settled: variables + 2 workers {took['celery']:.0f} s, Local -> Celery {took['local']:.0f} s"
    )
    local.executor = "CeleryExecutor (was Local)"
    return took


def test_two_celery_workers_run_tasks_then_the_deployment_shrinks_back(
    module: Module, changed: dict[str, float]
) -> None:
    m, dep = module, module.celery
    ips = worker_ips(m, dep)
    assert len(ips) == 2, ips
    run = rn.run_dag(m.env, dep, airflow_api.FANOUT_DAG_ID)
    assert len(run.tasks) == airflow_api.FANOUT_TASKS
    ran_on = {t["hostname"] for t in run.tasks}
    assert ran_on == ips, f"tasks ran on {ran_on}, the workers are {ips}"  # both worker pods took tasks

    m.api(UPDATE_CONFIG, {"id": dep.id, "config": {"workers": {"replicas": 1}}})
    wait_settled(m, dep, "back to one worker")
    workers = m.env.admin.get(Deployment, f"{dep.release}-worker", namespace=dep.namespace)
    assert workers.spec is not None
    assert workers.spec.replicas == 1
    assert len(worker_ips(m, dep)) == 1


def test_a_variable_reaches_running_tasks_and_the_secret_value_is_never_shown(
    module: Module, changed: dict[str, float]
) -> None:
    m, dep = module, module.celery
    run = rn.run_dag(m.env, dep, airflow_api.ENV_DAG_ID, marker=airflow_api.ENV_MARKER)
    log = run.logs[next(iter(run.logs))]
    assert f"{airflow_api.ENV_MARKER} plain={PLAIN_VALUE}" in log, log
    digest = hashlib.sha256(m.secret.encode()).hexdigest()
    assert f"{airflow_api.ENV_MARKER} secret-sha256={digest}" in log, log  # the task saw the secret's value

    # Never shown: not in any API answer (the variables, the Deployment, its jobs, every component's logs), a UI
    # page, a task log, a container log in the namespace or the server's own log.
    m.api(VARIABLES, {"deploymentUuid": dep.id, "releaseName": dep.release})
    m.api(DEPLOYMENT, {"id": dep.id})
    m.api(JOBS, {"id": dep.id})
    for component in LOG_COMPONENTS:
        m.api(houston_logs.GET_LOGS, houston_logs.variables(dep.id, component, since=timedelta(hours=1)))
    for answer in m.answers:
        assert m.secret not in answer, answer
    for path, page in ui_pages(m.env, dep):
        assert m.secret not in page, f"the secret value is on the page {path}"
    assert all(m.secret not in text for text in run.logs.values())
    rn.no_text_in_logs(m.env, dep.namespace, m.secret, "the secret variable's value")
    assert m.secret not in m.env.served.output()
    # In Kubernetes only its Secret holds it: every pod takes the variables from there (envFrom), no spec names it.
    for kind in rn.CONTENT_KINDS:
        if kind is not Secret:
            for obj in m.env.admin.list(kind, namespace=dep.namespace):
                assert m.secret not in json.dumps(obj.to_dict()), f"{kind.__name__} {obj.metadata.name}"


def ui_pages(e: rn.Env, dep: rn.Created) -> Iterator[tuple[str, str]]:
    """The UI's pages about the Deployment, read by its admin logged in with a browser's session cookie."""
    with httpx.Client(base_url=e.served.base, timeout=120) as browser:
        form = browser.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf, form.text[:500]
        done = browser.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf.group(1)})
        assert done.status_code == 303, done.text[:500]
        paths = [f"/deployments/{dep.id}{tail}" for tail in ("", "/settings", "/variables")]
        paths += [f"/deployments/{dep.id}/logs?component={c}&since=1h" for c in LOG_COMPONENTS]
        for path in paths:
            page = browser.get(path)
            assert page.status_code == 200, (path, page.status_code, page.text[:500])
            if path.endswith("/variables"):  # the page lists them: the plain value shown, the secret one not
                assert airflow_api.SECRET_VARIABLE in page.text, page.text
                assert PLAIN_VALUE in page.text, page.text
            yield path, page.text


def test_executor_change_local_to_celery_leaves_nothing_of_the_old_executor(
    module: Module, changed: dict[str, float]
) -> None:
    m, dep = module, module.local
    run = rn.run_dag(m.env, dep)
    assert run.task["hostname"] in worker_ips(m, dep)  # a Celery worker ran it, not the scheduler
    # Nothing of the LocalExecutor left: the namespace holds exactly what a Deployment created with the
    # CeleryExecutor holds (names without the release), and its pods run the same components.
    changed_objects = _without_release(rn.leftovers(m.env, dep.namespace), dep.release)
    native_objects = _without_release(rn.leftovers(m.env, m.celery.namespace), m.celery.release)
    for kind in ("Pod", "ReplicaSet", "Endpoints"):  # pod names and counts differ (workers were scaled there)
        changed_objects.pop(kind, None)
        native_objects.pop(kind, None)
    assert changed_objects == native_objects
    components = {
        p.metadata.labels.get("component")
        for p in m.env.admin.list(Pod, namespace=dep.namespace)
        if p.metadata and p.metadata.labels
    }
    assert {"worker", "flower", "redis"} <= components
    scheduler = m.env.admin.get(Deployment, f"{dep.release}-scheduler", namespace=dep.namespace)
    assert scheduler.spec is not None
    ports = {p.name for c in scheduler.spec.template.spec.containers for p in (c.ports or [])}
    assert "worker-logs" not in ports  # the scheduler no longer runs (and serves the logs of) tasks
    # Its account no longer launches pods: the pod-launcher binding names the same accounts as the native one's.
    bindings = [
        {
            s.name.replace(d.release, "<release>")
            for s in m.env.admin.get(
                RoleBinding, f"{d.release}-pod-launcher-rolebinding", namespace=d.namespace
            ).subjects
            or []
        }
        for d in (dep, m.celery)
    ]
    assert bindings[0] == bindings[1]
    assert "<release>-airflow-scheduler" not in bindings[0]


def _without_release(objects: dict[str, set[str]], release: str) -> dict[str, set[str]]:
    return {kind: {n.replace(release, "<release>") for n in names} for kind, names in objects.items()}


def test_hard_delete_leaves_only_the_pool(module: Module) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda d: rn.hard_delete_leaves_only_the_pool(module.env, d), (module.local, module.celery)))
