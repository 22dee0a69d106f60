"""An Airflow 2.11.2 Deployment upgraded to 3.3.2 on the dev cluster's real node, through Houston's operations:
a DAG runs on 2.11.2; an upgrade through an image the node does not have fails before anything is replaced, says
why, and 2.11.2 goes on running; the upgrade to 3.3.2 (``updateDeploymentAirflow``) migrates the database once and
rolls the components; afterwards the same DAG's earlier run is still in Airflow's history and a new run succeeds.

One Deployment (LocalExecutor, the lightest) in one pool namespace serves the module. Its DAG file comes from an
admin's ConfigMap mounted through ``airpool.airflow.extraVolumes`` (docs/configuration.md), as in the other
real-node Airflow tests; this module keeps its few helpers to itself.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightkube
import pytest
import yaml
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap

from airpool.commander import uninstall
from airpool.devcluster import images
from tests.support import airflow_api, commander_env
from tests.support.airflow_realnode import quietly, wait_until
from tests.support.api_server import GraphQL, Served, serve_process
from tests.support.realnode import RealNodeCluster

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

OVERLAY = Path(__file__).resolve().parents[2] / "examples" / "values-dev-realnode.yaml"
DAGS = "airpool-upgrade-dags"
BUILT = "localhost/airpool/airflow"
CREATE = """
mutation($ws: Uuid!, $namespace: String) {
  createDeployment(label: "upgrade", workspaceUuid: $ws, executor: LocalExecutor, namespace: $namespace,
                   airflowVersion: "2.11.2") { id releaseName }
}"""
UPGRADE = """
mutation updateDeploymentAirflow($deploymentId: Uuid!, $desiredAirflowVersion: String!) {
  updateDeploymentAirflow(deploymentUuid: $deploymentId, desiredAirflowVersion: $desiredAirflowVersion) {
    id airflowVersion desiredAirflowVersion
  }
}"""
DEPLOY_IMAGE = """
mutation updateDeploymentImage($releaseName: String!, $image: String!, $airflowVersion: String,
                               $runtimeVersion: String) {
  updateDeploymentImage(releaseName: $releaseName, image: $image, airflowVersion: $airflowVersion,
                        runtimeVersion: $runtimeVersion) { releaseName airflowVersion runtimeVersion }
}"""
STATE = """
query($id: String!) {
  deployment(where: {id: $id}) { airflowVersion desiredAirflowVersion image rolloutPhase rolloutError status
                                 statusMessage }
}"""
DELETE = "mutation($id: Uuid!) { deleteDeployment(deploymentUuid: $id, deploymentHardDelete: true) { id } }"
AVAILABLE = "query { availableNamespaces { name } }"
FIGURES: list[str] = []


@dataclass
class Env:
    served: Served
    client: GraphQL
    ws: str
    admin: lightkube.Client
    namespace: str

    def state(self, dep_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.client.data(STATE, {"id": dep_id})["deployment"]
        return found


def _values(tmp_path: Path, namespace: str) -> Path:
    pools = {"enabled": True, "createRbac": False, "namespaces": {"create": False, "names": [namespace]}}
    mount = {"name": "test-dags", "mountPath": "/opt/airflow/dags/airpool_smoke.py", "subPath": "airpool_smoke.py"}
    tree = {
        "global": {"features": {"namespacePools": pools}},
        "astronomer": {"houston": {"config": {"deployments": {"hardDeleteDeployment": True}}}},
        "airpool": {
            "healthCheckInterval": 30,
            "airflow": {
                "extraVolumes": [{"name": "test-dags", "configMap": {"name": DAGS}}],
                "extraVolumeMounts": [{**mount, "readOnly": True}],
            },
        },
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def _import_images(cluster: RealNodeCluster) -> None:
    """Both Airflow versions and the helpers the overlay names, built here (cached) and imported into the node."""
    configured = yaml.safe_load(OVERLAY.read_text())["airpool"]["images"]
    references = [f"{BUILT}:{v}" for v in ("2.11.2", "3.3.2")]
    references += [
        f"{configured[k]['repository']}:{configured[k]['tag']}" for k in ("postgresql", "pgbouncer", "statsd")
    ]
    for built in images.build([images.by_reference(r) for r in references], report=lambda _: None):
        cluster.import_image(built.archive)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, real_node_cluster: RealNodeCluster) -> Iterator[Env]:
    tmp_path = tmp_path_factory.mktemp("realnode-upgrade")
    admin = real_node_cluster.admin_client()
    _import_images(real_node_cluster)
    with contextlib.ExitStack() as stack:
        namespace = stack.enter_context(commander_env.pool_namespace(admin))
        admin.create(
            ConfigMap(
                metadata=ObjectMeta(name=DAGS, namespace=namespace),
                data={"airpool_smoke.py": airflow_api.SMOKE_DAG},
            )
        )
        served = stack.enter_context(
            serve_process(
                values=_values(tmp_path, namespace),
                more_values=[OVERLAY],
                database_url=f"sqlite:///{tmp_path / 'airpool.db'}",
                extra_args=["--migrate"],
                env={"AIRPOOL_COMMANDER_KUBECONFIG": str(real_node_cluster.info.commander_kubeconfig)},
                commander=True,
                fake_nodes=False,
            )
        )
        client = GraphQL(served.base).signup("admin")
        ws = client.data("query { workspaces { id } }")["workspaces"][0]["id"]
        e = Env(served, client, ws, admin, namespace)

        def offered() -> bool:
            return namespace in {n["name"] for n in client.data(AVAILABLE)["availableNamespaces"]}

        wait_until(offered, base=120, what=lambda: "the pool namespace offered")
        yield e
        if FIGURES:
            print("\nreal-node figures:\n  " + "\n  ".join(FIGURES), file=sys.stderr)


def _images(e: Env) -> dict[str, str]:
    out = {}
    for d in e.admin.list(Deployment, namespace=e.namespace):
        component = (d.metadata.labels or {}).get("component", "") if d.metadata else ""
        if component in ("scheduler", "webserver", "api-server", "triggerer", "dag-processor"):
            out[str(component)] = str(d.spec.template.spec.containers[0].image)  # type: ignore[union-attr]
    return out


def _run_dag(e: Env, release: str, *, airflow3: bool) -> str:
    """Trigger the smoke DAG and wait for its run to succeed; returns its run id."""
    api = airflow_api.connect(e.admin, e.namespace, release, airflow3=airflow3)
    wait_until(
        lambda: quietly(lambda: api.dag_known(airflow_api.SMOKE_DAG_ID)),
        base=300,
        what=lambda: "the smoke DAG parsed",
    )
    started = time.monotonic()
    run_id = api.trigger(airflow_api.SMOKE_DAG_ID)

    def finished() -> str | None:
        state = quietly(lambda: api.run_state(airflow_api.SMOKE_DAG_ID, run_id))
        return state if state in ("success", "failed") else None

    state = wait_until(finished, base=600, what=lambda: f"DAG run {run_id} finished", interval=1.0)
    (task,) = api.task_instances(airflow_api.SMOKE_DAG_ID, run_id)
    log = api.task_log(airflow_api.SMOKE_DAG_ID, run_id, task["task_id"], int(task["try_number"]))
    assert state == "success", f"run {run_id} ended {state}; task {task}; log:\n{log}"
    assert airflow_api.MARKER in log, log
    FIGURES.append(f"Airflow {'3.3.2' if airflow3 else '2.11.2'}: DAG run {time.monotonic() - started:.0f} s")
    return run_id


def test_upgrade_from_2_to_3_keeps_the_dag_history_and_a_failed_one_keeps_2_running(env: Env) -> None:
    started = time.monotonic()
    made = env.client.data(CREATE, {"ws": env.ws, "namespace": env.namespace})["createDeployment"]
    dep_id, release = made["id"], made["releaseName"]
    wait_until(
        lambda: env.state(dep_id)["status"] == "healthy",
        base=900,
        what=lambda: f"2.11.2 healthy (now: {env.state(dep_id)})",
    )
    FIGURES.append(f"LocalExecutor Airflow 2.11.2: create -> healthy {time.monotonic() - started:.0f} s")
    first = _run_dag(env, release, airflow3=False)

    # An upgrade through an image the node does not have: its migration pod cannot start (ErrImageNeverPull), so
    # nothing of 2.11.2 is replaced and the Deployment says why.
    missing = f"{BUILT}:3.3.2-not-built"
    sent = {"releaseName": release, "image": missing, "airflowVersion": "3.3.2", "runtimeVersion": ""}
    env.client.data(DEPLOY_IMAGE, sent)
    wait_until(lambda: env.state(dep_id)["rolloutError"], base=300, what=lambda: "the failed upgrade reported")
    failed = env.state(dep_id)
    assert failed["rolloutError"].startswith(f"deploying image {missing} (Airflow 3.3.2) failed: "), failed
    assert "ErrImageNeverPull" in failed["rolloutError"], failed
    assert failed["rolloutError"].endswith("Airflow 2.11.2 keeps running"), failed
    assert (failed["airflowVersion"], failed["image"], failed["rolloutPhase"]) == ("2.11.2", None, None)
    wait_until(
        lambda: env.state(dep_id)["status"] == "healthy",
        base=900,
        what=lambda: f"2.11.2 healthy after the failed upgrade (now: {env.state(dep_id)})",
    )
    assert set(_images(env).values()) == {f"{BUILT}:2.11.2"}
    api2 = airflow_api.connect(env.admin, env.namespace, release, airflow3=False)
    assert api2.run_state(airflow_api.SMOKE_DAG_ID, first) == "success"

    # The upgrade to 3.3.2: migration first (2.11.2 still serving), then the 3.x components.
    started = time.monotonic()
    answer = env.client.data(UPGRADE, {"deploymentId": dep_id, "desiredAirflowVersion": "3.3.2"})
    assert answer["updateDeploymentAirflow"]["desiredAirflowVersion"] == "3.3.2"
    wait_until(
        lambda: (s := env.state(dep_id))["airflowVersion"] == "3.3.2" and s["status"] == "healthy",
        base=1200,
        what=lambda: f"healthy on Airflow 3.3.2 (now: {env.state(dep_id)})",
    )
    FIGURES.append(f"LocalExecutor upgrade 2.11.2 -> 3.3.2: request -> healthy {time.monotonic() - started:.0f} s")
    done = env.state(dep_id)
    assert (done["rolloutPhase"], done["rolloutError"]) == (None, None)
    assert "Airflow reports metadatabase, scheduler, triggerer, dag_processor healthy" in done["statusMessage"]
    components = ("scheduler", "api-server", "triggerer", "dag-processor")
    assert _images(env) == {c: f"{BUILT}:3.3.2" for c in components}

    # The DAG's history survived the migration, and it runs on Airflow 3.
    api3 = airflow_api.connect(env.admin, env.namespace, release, airflow3=True)
    wait_until(
        lambda: quietly(lambda: api3.run_state(airflow_api.SMOKE_DAG_ID, first)) == "success",
        base=300,
        what=lambda: f"the 2.11.2 run {first} in Airflow 3's history",
    )
    assert _run_dag(env, release, airflow3=True) != first

    env.client.data(DELETE, {"id": dep_id})
    wait_until(
        lambda: env.namespace in {n["name"] for n in env.client.data(AVAILABLE)["availableNamespaces"]},
        base=300,
        what=lambda: "the namespace offered again",
    )
    assert uninstall.remaining(env.admin, env.namespace, dep_id) == []
