"""An Airflow 2.11.2 Deployment upgraded to 3.3.2 on the dev cluster's real node, through Houston's operations:
a DAG runs on 2.11.2; an upgrade through an image that cannot be pulled fails before anything is replaced, says why,
and 2.11.2 goes on running; the upgrade to 3.3.2 (``updateDeploymentAirflow``) migrates the database once and rolls
the components; afterwards the same DAG's earlier run is still in Airflow's history and a new run succeeds.

One Deployment (LocalExecutor, the lightest) serves the whole module. DAG files come from an admin's ConfigMap, as
in test_realnode_airflow.py, whose helpers this module uses.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube.resources.apps_v1 import Deployment

from airpool.devcluster import images
from tests.e2e.test_realnode_airflow import (
    FIGURES,
    IMAGE_OVERLAY,
    Env,
    _overlay_references,
    _quietly,
    create,
    dags_configmap,
    hard_delete_leaves_only_the_pool,
    run_smoke_dag,
    values_files,
    wait_until,
    yield_figures,
)
from tests.support import airflow_api, commander_env
from tests.support.api_server import GraphQL, serve_process
from tests.support.realnode import RealNodeCluster

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

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


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, real_node_cluster: RealNodeCluster) -> Iterator[Env]:
    tmp_path = tmp_path_factory.mktemp("realnode-upgrade")
    database_url = f"sqlite:///{tmp_path / 'airpool.db'}"
    admin = real_node_cluster.admin_client()
    references = [*_overlay_references(), _overlay_references()[0].rsplit(":", 1)[0] + ":2.11.2"]
    for built in images.build([images.by_reference(r) for r in references], report=lambda _: None):
        real_node_cluster.import_image(built.archive)
    with contextlib.ExitStack() as stack:
        names = (stack.enter_context(commander_env.pool_namespace(admin)),)
        admin.create(dags_configmap(names[0]))
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
        wait_until(lambda: set(names) <= e.available(), base=120, what="the pool namespace offered")
        yield e
        yield_figures()


def _state(e: Env, dep_id: str) -> dict[str, Any]:
    found: dict[str, Any] = e.client.data(STATE, {"id": dep_id})["deployment"]
    return found


def _component_images(e: Env, namespace: str) -> dict[str, str]:
    out = {}
    for d in e.admin.list(Deployment, namespace=namespace):
        component = (d.metadata.labels or {}).get("component", "") if d.metadata else ""
        if component in ("scheduler", "webserver", "api-server", "triggerer", "dag-processor"):
            out[str(component)] = str(d.spec.template.spec.containers[0].image)  # type: ignore[union-attr]
    return out


def test_upgrade_from_2_to_3_keeps_the_dag_history_and_a_failed_one_keeps_2_running(env: Env) -> None:
    (namespace,) = env.pool
    dep = create(env, "LocalExecutor", namespace, "2.11.2")
    first = run_smoke_dag(env, dep)

    # An upgrade through an image the node does not have: its migration pod cannot start (ErrImageNeverPull), so
    # nothing of 2.11.2 is replaced and the Deployment says why.
    missing = "localhost/airpool/airflow:3.3.2-not-built"
    env.client.data(
        DEPLOY_IMAGE,
        {"releaseName": dep.release, "image": missing, "airflowVersion": "3.3.2", "runtimeVersion": ""},
    )
    wait_until(lambda: _state(env, dep.id)["rolloutError"], base=300, what="the failed upgrade reported")
    failed = _state(env, dep.id)
    assert failed["rolloutError"].startswith(f"deploying image {missing} (Airflow 3.3.2) failed: "), failed
    assert "ErrImageNeverPull" in failed["rolloutError"], failed
    assert failed["rolloutError"].endswith("Airflow 2.11.2 keeps running"), failed
    assert (failed["airflowVersion"], failed["image"], failed["rolloutPhase"]) == ("2.11.2", None, None)
    wait_until(
        lambda: _state(env, dep.id)["status"] == "healthy",
        base=900,
        what=lambda: f"2.11.2 healthy after the failed upgrade (now: {_state(env, dep.id)})",
    )
    assert set(_component_images(env, namespace).values()) == {"localhost/airpool/airflow:2.11.2"}
    api2 = airflow_api.connect(env.admin, namespace, dep.release, airflow3=False)
    assert api2.run_state(airflow_api.SMOKE_DAG_ID, first.run_id) == "success"

    # The upgrade to 3.3.2: migration first (2.11.2 still serving), then the 3.x components.
    started = time.monotonic()
    answer = env.client.data(UPGRADE, {"deploymentId": dep.id, "desiredAirflowVersion": "3.3.2"})
    assert answer["updateDeploymentAirflow"]["desiredAirflowVersion"] == "3.3.2"
    wait_until(
        lambda: (s := _state(env, dep.id))["airflowVersion"] == "3.3.2" and s["status"] == "healthy",
        base=1200,
        what=lambda: f"healthy on Airflow 3.3.2 (now: {_state(env, dep.id)})",
    )
    took = time.monotonic() - started
    FIGURES.append(f"LocalExecutor upgrade 2.11.2 -> 3.3.2: request -> healthy {took:.0f} s")
    done = _state(env, dep.id)
    assert (done["rolloutPhase"], done["rolloutError"]) == (None, None)
    assert "Airflow reports metadatabase, scheduler, triggerer, dag_processor healthy" in done["statusMessage"]
    assert _component_images(env, namespace) == {
        c: "localhost/airpool/airflow:3.3.2" for c in ("scheduler", "api-server", "triggerer", "dag-processor")
    }

    # The DAG's history survived the migration, and it runs on Airflow 3.
    dep.version = "3.3.2"
    api3 = airflow_api.connect(env.admin, namespace, dep.release, airflow3=True)
    wait_until(
        lambda: _quietly(lambda: api3.run_state(airflow_api.SMOKE_DAG_ID, first.run_id)) == "success",
        base=300,
        what=f"the 2.11.2 run {first.run_id} in Airflow 3's history",
    )
    second = run_smoke_dag(env, dep)
    assert second.run_id != first.run_id
    hard_delete_leaves_only_the_pool(env, dep)
