"""A Deployment changed through the API is re-rendered and applied by commander: ``airpool serve`` with its
in-process commander worker on the real API server (fake nodes), sizes and executor changed with
``updateDeployment``; the cluster's objects follow (replicas, resources, the namespace's quota, the old executor's
objects gone)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightkube
import pytest
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ResourceQuota, Secret

from airpool.devcluster import ClusterInfo
from tests.integration.test_commander_api import CREATE, values_file, wait_until
from tests.support import commander_env
from tests.support.api_server import GraphQL, serve_process

pytestmark = pytest.mark.slow

UPDATE = """
mutation($id: Uuid!, $config: JSON, $executor: ExecutorType) {
  updateDeployment(deploymentUuid: $id, config: $config, executor: $executor, payload: {}) { id }
}"""
VARIABLES = """
mutation($id: Uuid!, $items: [InputEnvironmentVariable!]!) {
  updateDeploymentVariables(deploymentUuid: $id, environmentVariables: $items) { key }
}"""
LIST_VARIABLES = "query($id: Uuid!) { deploymentVariables(deploymentUuid: $id) { key value isSecret } }"
STATUS = "query($id: String!) { deployment(where: {id: $id}) { status statusMessage } }"


@pytest.fixture
def pool_namespace(admin_client: lightkube.Client) -> Iterator[str]:
    with commander_env.pool_namespace(admin_client) as name:
        yield name


def _replicas(client: lightkube.Client, namespace: str, name: str) -> int | None:
    try:
        found = client.get(Deployment, name, namespace=namespace)
    except lightkube.ApiError:
        return None
    assert found.spec is not None
    return found.spec.replicas


def test_resizing_and_changing_the_executor_are_applied_by_commander(
    tmp_path: Path,
    sqlite_url: str,
    pool_namespace: str,
    dev_cluster: ClusterInfo,
    admin_client: lightkube.Client,
) -> None:
    env = {"AIRPOOL_COMMANDER_KUBECONFIG": str(dev_cluster.commander_kubeconfig)}
    values = values_file(tmp_path, (pool_namespace,))
    with serve_process(
        values=values, database_url=sqlite_url, extra_args=["--migrate"], env=env, commander=True
    ) as served:
        client = GraphQL(served.base).signup("admin")
        ws = client.data("query { workspaces { id } }")["workspaces"][0]["id"]
        made = client.data(
            CREATE, {"label": "grow", "ws": ws, "executor": "CeleryExecutor", "namespace": pool_namespace}
        )
        dep_id, release = made["createDeployment"]["id"], made["createDeployment"]["releaseName"]

        def status() -> dict[str, Any]:
            found: dict[str, Any] = client.data(STATUS, {"id": dep_id})["deployment"]
            return found

        wait_until(lambda: status()["status"] == "healthy", timeout=180, what="the Deployment healthy")
        worker = f"{release}-worker"
        assert _replicas(admin_client, pool_namespace, worker) == 1
        resources = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "2", "memory": "3Gi"}}
        client.data(
            UPDATE,
            {
                "id": dep_id,
                "config": {"workers": {"replicas": 2, "resources": resources}, "triggerer": {"replicas": 0}},
            },
        )
        wait_until(
            lambda: (
                _replicas(admin_client, pool_namespace, worker) == 2
                and _replicas(admin_client, pool_namespace, f"{release}-triggerer") == 0
            ),
            timeout=180,
            what="two Celery workers and no triggerer",
        )
        applied = admin_client.get(Deployment, worker, namespace=pool_namespace)
        assert applied.spec is not None
        container = applied.spec.template.spec.containers[0]  # type: ignore[union-attr]
        assert container.resources is not None
        assert container.resources.limits == resources["limits"]
        assert container.resources.requests == resources["requests"]
        quota = admin_client.get(ResourceQuota, f"{release}-resource-quota", namespace=pool_namespace)
        assert quota.spec is not None
        assert quota.spec.hard is not None
        assert quota.spec.hard["pods"] == "64"  # 60 + twice two workers
        assert quota.spec.hard["limits.cpu"] == "40"  # 32 + 2 x 2 x 2 cores
        wait_until(lambda: status()["status"] == "healthy", timeout=180, what="healthy again after the resize")

        # Environment variables reach every Airflow component through the Secret <release>-env.
        client.data(
            VARIABLES,
            {
                "id": dep_id,
                "items": [
                    {"key": "PLAIN_SETTING", "value": "on", "isSecret": False},
                    {"key": "API_TOKEN", "value": "t0ps3cret", "isSecret": True},
                ],
            },
        )

        def env_data() -> dict[str, str]:
            try:
                found = admin_client.get(Secret, f"{release}-env", namespace=pool_namespace)
            except lightkube.ApiError:
                return {}
            return {k: base64.b64decode(v).decode() for k, v in (found.data or {}).items()}

        wait_until(
            lambda: env_data() == {"PLAIN_SETTING": "on", "API_TOKEN": "t0ps3cret"},
            timeout=180,
            what="the variables in the env Secret",
        )
        airflow_deployments = [
            d
            for d in admin_client.list(Deployment, namespace=pool_namespace)
            if d.metadata is not None
            and d.metadata.name
            in {f"{release}-{c}" for c in ("scheduler", "api-server", "worker", "triggerer", "dag-processor", "flower")}
        ]
        assert len(airflow_deployments) == 6
        for d in airflow_deployments:
            container = d.spec.template.spec.containers[0]  # type: ignore[union-attr]
            assert [e.secretRef.name for e in container.envFrom or [] if e.secretRef] == [f"{release}-env"]
        migration = admin_client.get(Job, f"{release}-run-airflow-migrations", namespace=pool_namespace)
        job_container = migration.spec.template.spec.containers[0]  # type: ignore[union-attr]
        assert [e.secretRef.name for e in job_container.envFrom or [] if e.secretRef] == [f"{release}-env"]
        assert "t0ps3cret" not in json.dumps(client.post(LIST_VARIABLES, {"id": dep_id}))
        assert "t0ps3cret" not in served.output()

        # Celery -> Local: the workers, flower and Redis go; the scheduler runs the tasks.
        client.data(UPDATE, {"id": dep_id, "executor": "LocalExecutor"})
        wait_until(
            lambda: (
                _replicas(admin_client, pool_namespace, worker) is None
                and _replicas(admin_client, pool_namespace, f"{release}-flower") is None
            ),
            timeout=180,
            what="the Celery workers and flower removed",
        )
        wait_until(lambda: status()["status"] == "healthy", timeout=180, what="healthy on LocalExecutor")
