"""Upgrades and image deploys carried out by commander: ``airpool serve`` with its in-process worker on the real API
server (fake nodes). An Airflow 2.11.2 Deployment is upgraded to 3.3.2 through Houston's ``updateDeploymentAirflow``:
the new version's migration Job runs first and once, then the components roll (the 2.x webserver goes, the 3.x
API server and DAG processor come), secrets and variables are kept. An image deploy rolls every Airflow container
to the given image; one whose migration pod the cluster refuses leaves the old image running and says why."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightkube
import pytest
import yaml
from lightkube.generic_resource import create_global_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import LimitRange, Pod, Secret

from airpool.devcluster import ClusterInfo
from tests.integration.test_commander_api import wait_until
from tests.support import commander_env
from tests.support.api_server import GraphQL, serve_process

pytestmark = pytest.mark.slow

CREATE = """
mutation($ws: Uuid!, $namespace: String) {
  createDeployment(label: "up", workspaceUuid: $ws, executor: LocalExecutor, namespace: $namespace,
                   airflowVersion: "2.11.2") { id releaseName }
}"""
UPGRADE = """
mutation($id: Uuid!, $v: String!) {
  updateDeploymentAirflow(deploymentUuid: $id, desiredAirflowVersion: $v) { airflowVersion desiredAirflowVersion }
}"""
DEPLOY_IMAGE = """
mutation($release: String!, $image: String!, $v: String) {
  updateDeploymentImage(releaseName: $release, image: $image, airflowVersion: $v, runtimeVersion: "") { releaseName }
}"""
VARIABLES = """
mutation($id: Uuid!) {
  updateDeploymentVariables(
    deploymentUuid: $id, environmentVariables: [{key: "TOKEN", value: "kept-1", isSecret: true}]
  ) { key }
}"""
RESIZE = """
mutation($id: Uuid!, $config: JSON) { updateDeployment(deploymentUuid: $id, config: $config, payload: {}) { id } }"""
STATE = """
query($id: String!) {
  deployment(where: {id: $id}) {
    airflowVersion desiredAirflowVersion image desiredImage rolloutPhase rolloutError status statusMessage
    deployInfo { current nextCli }
  }
}"""
AIRFLOW_COMPONENTS = {"scheduler", "webserver", "api-server", "triggerer", "dag-processor"}

#: An admin's policy that refuses pods of one image in one namespace (what a registry allow-list would do).
ValidatingAdmissionPolicy = create_global_resource(
    "admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies"
)
ValidatingAdmissionPolicyBinding = create_global_resource(
    "admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings"
)


@pytest.fixture
def pool_namespace(admin_client: lightkube.Client) -> Iterator[str]:
    with commander_env.pool_namespace(admin_client) as name:
        yield name


def _values(tmp_path: Path, namespace: str) -> Path:
    pools = {"enabled": True, "createRbac": False, "namespaces": {"create": False, "names": [namespace]}}
    tree = {
        "global": {"features": {"namespacePools": pools}},
        "astronomer": {"houston": {"config": {"deployments": {"hardDeleteDeployment": True}}}},
        "airpool": {"healthCheckInterval": 3600},
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def _images(client: lightkube.Client, namespace: str) -> dict[str, set[str]]:
    """Airflow component -> the images of its containers (init containers included)."""
    out: dict[str, set[str]] = {}
    for d in client.list(Deployment, namespace=namespace):
        component = (d.metadata.labels or {}).get("component", "") if d.metadata else ""
        if component in AIRFLOW_COMPONENTS and d.spec is not None and d.spec.template.spec is not None:
            pod = d.spec.template.spec
            out[component] = {c.image or "" for c in [*(pod.initContainers or []), *pod.containers]}
    return out


def _job(client: lightkube.Client, namespace: str, release: str) -> Any:
    return client.get(Job, f"{release}-run-airflow-migrations", namespace=namespace)


def _secret(client: lightkube.Client, namespace: str, name: str, key: str) -> str | None:
    found = client.get(Secret, name, namespace=namespace)
    value = (found.data or {}).get(key)
    return base64.b64decode(value).decode() if value is not None else None


@pytest.fixture
def refuse_image(admin_client: lightkube.Client, pool_namespace: str) -> Iterator[str]:
    """Pods of one image are refused in the pool namespace (an admin's ValidatingAdmissionPolicy)."""
    image = "registry.example.com/team/airflow:refused"
    name = f"refuse-{pool_namespace}"
    admin_client.create(
        ValidatingAdmissionPolicy(
            metadata={"name": name},
            spec={
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
                    ]
                },
                "validations": [
                    {
                        "expression": f"object.spec.containers.all(c, c.image != '{image}')",
                        "message": "this image is not allowed here",
                    }
                ],
            },
        )
    )
    admin_client.create(
        ValidatingAdmissionPolicyBinding(
            metadata={"name": name},
            spec={
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": pool_namespace}}
                },
            },
        )
    )
    try:
        yield image
    finally:
        admin_client.delete(ValidatingAdmissionPolicyBinding, name)
        admin_client.delete(ValidatingAdmissionPolicy, name)


def test_upgrade_2_to_3_migrates_once_then_rolls_and_image_deploys_roll_or_fail_safely(
    tmp_path: Path,
    sqlite_url: str,
    pool_namespace: str,
    refuse_image: str,
    dev_cluster: ClusterInfo,
    admin_client: lightkube.Client,
) -> None:
    ns = pool_namespace
    env = {"AIRPOOL_COMMANDER_KUBECONFIG": str(dev_cluster.commander_kubeconfig)}
    with serve_process(
        values=_values(tmp_path, ns), database_url=sqlite_url, extra_args=["--migrate"], env=env, commander=True
    ) as served:
        client = GraphQL(served.base).signup("admin")
        ws = client.data("query { workspaces { id } }")["workspaces"][0]["id"]
        made = client.data(CREATE, {"ws": ws, "namespace": ns})["createDeployment"]
        dep_id, release = made["id"], made["releaseName"]

        def state() -> dict[str, Any]:
            found: dict[str, Any] = client.data(STATE, {"id": dep_id})["deployment"]
            return found

        wait_until(lambda: state()["status"] == "healthy", timeout=180, what="the 2.11.2 Deployment healthy")
        client.data(VARIABLES, {"id": dep_id})
        wait_until(
            lambda: _secret(admin_client, ns, f"{release}-env", "TOKEN") == "kept-1", timeout=120, what="variable"
        )
        fernet = _secret(admin_client, ns, f"{release}-fernet-key", "fernet-key")
        password = _secret(admin_client, ns, f"{release}-airflow-admin", "password")
        assert set(_images(admin_client, ns)) == {"scheduler", "webserver", "triggerer"}

        # Upgrade 2.11.2 -> 3.3.2: pending until commander's migration Job completed, then the components roll.
        answer = client.data(UPGRADE, {"id": dep_id, "v": "3.3.2"})["updateDeploymentAirflow"]
        assert answer == {"airflowVersion": "2.11.2", "desiredAirflowVersion": "3.3.2"}
        wait_until(
            lambda: (s := state())["airflowVersion"] == "3.3.2" and s["status"] == "healthy",
            timeout=240,
            what="the Deployment healthy on Airflow 3.3.2",
        )
        done = state()
        assert (done["desiredAirflowVersion"], done["rolloutPhase"], done["rolloutError"]) == ("3.3.2", None, None)
        assert done["deployInfo"] == {"current": "3.3.2", "nextCli": "deploy-1"}  # apache/airflow:3.3.2 runs
        images = _images(admin_client, ns)
        assert set(images) == {"scheduler", "api-server", "triggerer", "dag-processor"}  # the webserver is gone
        assert all(refs == {"apache/airflow:3.3.2"} for refs in images.values()), images
        job = _job(admin_client, ns, release)
        assert job.spec.template.spec.containers[0].image == "apache/airflow:3.3.2"
        assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or [])
        # Secrets and the user's variables are kept (not regenerated by the upgrade).
        assert _secret(admin_client, ns, f"{release}-fernet-key", "fernet-key") == fernet
        assert _secret(admin_client, ns, f"{release}-airflow-admin", "password") == password
        assert _secret(admin_client, ns, f"{release}-env", "TOKEN") == "kept-1"

        # The migration ran once: a later re-apply (a resize) leaves the completed Job and its one pod alone.
        migrated_uid = job.metadata.uid
        client.data(RESIZE, {"id": dep_id, "config": {"scheduler": {"replicas": 2}}})
        wait_until(
            lambda: (
                (d := admin_client.get(Deployment, f"{release}-scheduler", namespace=ns)).spec is not None
                and d.spec.replicas == 2
                and state()["status"] == "healthy"
            ),
            timeout=180,
            what="two schedulers",
        )
        assert _job(admin_client, ns, release).metadata.uid == migrated_uid
        job_pods = [
            p
            for p in admin_client.list(Pod, namespace=ns)
            if any(o.name == f"{release}-run-airflow-migrations" for o in (p.metadata.ownerReferences or []))
        ]
        assert len(job_pods) == 1
        # The LimitRange follows the size too: a 3-CPU, 5Gi scheduler raises the largest container allowed.
        bigger = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "3", "memory": "5Gi"}}
        client.data(RESIZE, {"id": dep_id, "config": {"scheduler": {"resources": bigger}}})
        wait_until(
            lambda: (
                admin_client.get(LimitRange, f"{release}-limit-range", namespace=ns).spec.limits[0].max
                == {"cpu": "3", "memory": "5Gi"}
            ),
            timeout=180,
            what="the LimitRange's max following the scheduler's size",
        )
        wait_until(lambda: state()["status"] == "healthy", timeout=180, what="healthy after the resize")

        # An image deploy rolls every Airflow container to the image built elsewhere.
        own = "registry.example.com/team/airflow:deploy-3"
        client.data(DEPLOY_IMAGE, {"release": release, "image": own, "v": "3.3.2"})
        wait_until(
            lambda: (s := state())["image"] == own and s["status"] == "healthy",
            timeout=240,
            what="the Deployment healthy on its own image",
        )
        assert all(refs == {own} for refs in _images(admin_client, ns).values())
        assert _job(admin_client, ns, release).spec.template.spec.containers[0].image == own
        assert state()["deployInfo"] == {"current": "deploy-3", "nextCli": "deploy-4"}  # the CLI's TAG column

        # An image whose pods the cluster refuses: the rollout fails before anything is replaced, says why, and the
        # Deployment keeps running its image.
        client.data(DEPLOY_IMAGE, {"release": release, "image": refuse_image, "v": "3.3.2"})
        wait_until(lambda: state()["rolloutError"], timeout=180, what="the failed image deploy reported")
        failed = state()
        assert failed["rolloutError"].startswith(f"deploying image {refuse_image} (Airflow 3.3.2) failed: ")
        assert "this image is not allowed here" in failed["rolloutError"]
        assert failed["rolloutError"].endswith(f"Airflow 3.3.2 (image {own}) keeps running")
        assert (failed["image"], failed["desiredImage"], failed["rolloutPhase"]) == (own, None, None)
        wait_until(lambda: state()["status"] == "healthy", timeout=240, what="healthy again on the old image")
        assert all(refs == {own} for refs in _images(admin_client, ns).values())
        assert _job(admin_client, ns, release).spec.template.spec.containers[0].image == own
