"""Airflow really runs, part two: a KubernetesExecutor Deployment (Airflow 3) runs each task in a pod of its own
in its pool namespace, and its scheduler's account may launch pods nowhere else; an Airflow 2.x Deployment reaches
Airflow's own ``healthy`` and runs a DAG; a soft delete keeps the in-namespace PostgreSQL's claim until the
retention ends, and a hard delete leaves nothing of the Deployment.

Two Deployments, created at once and shared by the module's tests (tests/support/airflow_realnode.py).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lightkube
import pytest
import yaml
from lightkube import ApiError
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.core_v1 import Container, PodSpec, ResourceRequirements
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, Pod, ServiceAccount

from airpool.kube import client as kube_client
from tests.support import airflow_api
from tests.support import airflow_realnode as rn
from tests.support.realnode import RealNodeCluster

pytestmark = [pytest.mark.realnode, pytest.mark.slow]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, real_node_cluster: RealNodeCluster) -> Iterator[rn.Env]:
    tmp_path = tmp_path_factory.mktemp("realnode-kubernetes")
    with rn.served_pool(real_node_cluster, tmp_path, namespaces=2, airflow_versions=("3.3.2", "2.11.2")) as e:
        yield e


@pytest.fixture(scope="module")
def deployments(env: rn.Env) -> dict[str, rn.Created]:
    kubernetes_ns, airflow2_ns = env.pool
    with ThreadPoolExecutor(max_workers=2) as pool:
        kubernetes = pool.submit(rn.create, env, "KubernetesExecutor", kubernetes_ns, "3.3.2")
        airflow2 = pool.submit(rn.create, env, "LocalExecutor", airflow2_ns, "2.11.2")
        return {"kubernetes": kubernetes.result(), "airflow2": airflow2.result()}


def client_as_service_account(env: rn.Env, tmp_path: Path, namespace: str, account: str) -> lightkube.Client:
    """A client holding a fresh token of ``namespace/account`` (TokenRequest, as the kubelet mounts into its pods)."""
    request = ServiceAccount.Token(metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[], expirationSeconds=600))
    token = env.admin.create(request, name=account, namespace=namespace).status.token
    admin_config = yaml.safe_load(env.kubeconfig.read_text())
    config = copy.deepcopy(admin_config)
    config["users"] = [{"name": account, "user": {"token": token}}]
    config["contexts"] = [{"name": account, "context": {"cluster": config["clusters"][0]["name"], "user": account}}]
    config["current-context"] = account
    path = tmp_path / f"{account}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return kube_client.connect(path, field_manager="airpool-test")


def probe_pod(namespace: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name="escape-attempt", namespace=namespace),
        spec=PodSpec(
            containers=[
                Container(
                    name="c",
                    image="localhost/airpool/airflow:3.3.2",
                    imagePullPolicy="Never",
                    args=["airflow", "version"],
                    # within the Deployment's quota, whatever its LimitRange's defaults
                    resources=ResourceRequirements(
                        requests={"cpu": "10m", "memory": "32Mi"}, limits={"cpu": "100m", "memory": "128Mi"}
                    ),
                )
            ]
        ),
    )


def test_kubernetes_executor_runs_each_task_in_its_own_pod_and_launches_pods_only_in_its_namespace(
    env: rn.Env, deployments: dict[str, rn.Created], tmp_path: Path
) -> None:
    dep = deployments["kubernetes"]
    run = rn.run_dag(env, dep, watch_pods=True)
    # The task ran in a pod of its own (its hostname is the pod's name), launched in the pool namespace.
    assert run.pods_seen, "no task pod was seen in the Deployment's namespace"
    ran_on = run.logs[next(iter(run.logs))].split(f"{airflow_api.MARKER} on ", 1)[1].split()[0]
    assert ran_on in run.pods_seen, (ran_on, run.pods_seen)
    assert run.task["hostname"] != rn.ready_pod_ip(env, dep, "scheduler")
    # The task pod is deleted once it ends; its log stays readable (the Deployment's shared log volume).
    rn.wait_until(
        lambda: not list(env.admin.list(Pod, namespace=dep.namespace, labels={"dag_id": airflow_api.SMOKE_DAG_ID})),
        base=300,
        what="the finished task pod deleted",
    )
    api = rn.wait_until(
        lambda: rn.quietly(lambda: airflow_api.connect(env.admin, dep.namespace, dep.release, airflow3=True)),
        base=300,
        what="a ready API server",
    )
    task = run.task
    rn.wait_until(
        lambda: (
            f"{airflow_api.MARKER} on {ran_on}"
            in (rn.quietly(lambda: api.task_log(airflow_api.SMOKE_DAG_ID, run.run_id, task["task_id"], 1)) or "")
        ),
        base=120,
        what="the task's log read after its pod is gone",
    )

    # The scheduler's own account (what its pod mounts): it may launch pods in its namespace, nowhere else. The
    # answer is the API server's own 403.
    scheduler_account = f"{dep.release}-airflow-scheduler"
    as_scheduler = client_as_service_account(env, tmp_path, dep.namespace, scheduler_account)
    as_scheduler.create(probe_pod(dep.namespace), dry_run=True)  # allowed here (nothing is created: dry run)
    for elsewhere in (env.pool[1], "default", "astronomer"):
        with pytest.raises(ApiError) as refused:
            as_scheduler.create(probe_pod(elsewhere))
        assert refused.value.status.code == 403, refused.value.status
        message = refused.value.status.message or ""
        assert f"system:serviceaccount:{dep.namespace}:{scheduler_account}" in message, message
        assert f'cannot create resource "pods" in API group "" in the namespace "{elsewhere}"' in message, message
    assert [
        p.metadata.name for p in env.admin.list(Pod, namespace=env.pool[1]) if p.metadata.name == "escape-attempt"
    ] == []

    rn.memory_figure(env, dep)
    rn.hard_delete_leaves_only_the_pool(env, dep)


def test_airflow_2_runs_a_dag_and_a_soft_delete_keeps_its_database_until_the_retention_ends(
    env: rn.Env, deployments: dict[str, rn.Created]
) -> None:
    dep = deployments["airflow2"]
    run = rn.run_dag(env, dep)
    assert run.task["hostname"] == rn.ready_pod_ip(env, dep, "scheduler")  # LocalExecutor: the scheduler ran it
    rn.memory_figure(env, dep)

    claim = f"{dep.release}-postgresql-data"
    volume = env.admin.get(PersistentVolumeClaim, claim, namespace=dep.namespace).spec.volumeName
    assert volume
    env.client.data(rn.DELETE, {"id": dep.id, "hard": False})
    rn.wait_until(lambda: env.pool_state(dep.namespace) == "retained", base=300, what="the namespace retained")
    # Retained: every object of the Deployment is gone except its database's claim, still bound to its volume.
    rn.wait_until(
        lambda: rn.leftovers(env, dep.namespace) == {"PersistentVolumeClaim": {claim}},
        base=60,
        what=lambda: f"only the database's claim kept (kept: {rn.leftovers(env, dep.namespace)})",
    )
    kept = env.admin.get(PersistentVolumeClaim, claim, namespace=dep.namespace)
    assert kept.status.phase == "Bound"
    assert kept.spec.volumeName == volume
    assert dep.namespace not in env.available()

    # The retention (0 days here) has ended: the cleanup an admin's schedule runs finishes the soft delete.
    done = env.airpool("cleanup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"released 1 namespace(s): {dep.namespace}" in done.stdout, done.stdout
    rn.wait_until(
        lambda: dep.namespace in env.available() and rn.leftovers(env, dep.namespace) == {},
        base=300,
        what=lambda: f"the claim purged and the namespace offered (left: {rn.leftovers(env, dep.namespace)})",
    )
    rn.wait_until(
        lambda: volume not in {v.metadata.name for v in env.admin.list(PersistentVolume)},
        base=120,
        what="the volume released",
    )
