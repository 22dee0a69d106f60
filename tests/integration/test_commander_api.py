"""Through the API, as a user would: ``airpool serve`` with its in-process commander worker (commander's own
token), GraphQL over HTTP, a pool of namespaces an admin prepared on the real API server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightkube
import pytest
import yaml
from lightkube.resources.core_v1 import Pod
from lightkube.resources.rbac_authorization_v1 import Role

from airpool.commander import uninstall
from airpool.devcluster import ClusterInfo
from airpool.manifests import pool as pool_manifests
from tests.support import cluster as cluster_support
from tests.support import commander_env
from tests.support.api_server import GraphQL, serve_process

pytestmark = pytest.mark.slow

CREATE = """
mutation($label: String!, $ws: Uuid!, $executor: ExecutorType!, $namespace: String) {
  createDeployment(label: $label, workspaceUuid: $ws, executor: $executor, namespace: $namespace) { id releaseName }
}"""
DEPLOYMENTS = """
query($ws: Uuid!) { workspaceDeployments(workspaceUuid: $ws) { id namespace status statusMessage urls { type url } } }
"""
DELETE = "mutation($id: Uuid!) { deleteDeployment(deploymentUuid: $id, deploymentHardDelete: true) { id } }"
AVAILABLE = "query { availableNamespaces { name } }"
POOL = "query { poolStatus { namespaces { name state healthReason } } }"


@pytest.fixture
def prepared(admin_client: lightkube.Client) -> Iterator[tuple[str, ...]]:
    """Three pool namespaces with commander's Role, and one with the namespace-pool guide's hand-written Role."""
    with (
        commander_env.pool_namespace(admin_client) as a,
        commander_env.pool_namespace(admin_client) as b,
        commander_env.pool_namespace(admin_client) as c,
        cluster_support.fresh_namespace(admin_client, prefix="opt2") as d,
    ):
        commander_env.grant_guide_role(admin_client, d)
        yield a, b, c, d


def values_file(tmp_path: Path, names: tuple[str, ...]) -> Path:
    pools = {"enabled": True, "createRbac": False, "namespaces": {"create": False, "names": list(names)}}
    tree = {
        "global": {"features": {"namespacePools": pools}},
        "astronomer": {"houston": {"config": {"deployments": {"hardDeleteDeployment": True}}}},
        "airpool": {"healthCheckInterval": 3600},
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def deployments_by_id(client: GraphQL, ws: str) -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in client.data(DEPLOYMENTS, {"ws": ws})["workspaceDeployments"]}


def wait_until(predicate: Any, *, timeout: float, what: str) -> None:
    cluster_support.wait_for(predicate, timeout=timeout, interval=0.3, what=what)


def test_deployments_created_through_the_api_become_healthy_and_hard_delete_offers_the_namespace_again(
    tmp_path: Path,
    sqlite_url: str,
    prepared: tuple[str, ...],
    dev_cluster: ClusterInfo,
    admin_client: lightkube.Client,
) -> None:
    env = {"AIRPOOL_COMMANDER_KUBECONFIG": str(dev_cluster.commander_kubeconfig)}
    values = values_file(tmp_path, prepared)
    with serve_process(
        values=values, database_url=sqlite_url, extra_args=["--migrate"], env=env, commander=True
    ) as served:
        client = GraphQL(served.base).signup("admin")
        ws = client.data("query { workspaces { id } }")["workspaces"][0]["id"]

        # The worker's first pool health check finds what the Option 2 Role lacks: never offered, refused.
        def pool_state(name: str) -> dict[str, Any]:
            return next(n for n in client.data(POOL)["poolStatus"]["namespaces"] if n["name"] == name)

        opt2 = prepared[3]
        wait_until(lambda: pool_state(opt2)["state"] == "misconfigured", timeout=60, what="opt2 misconfigured")
        assert f"create pods/exec (core) in namespace {opt2}" in pool_state(opt2)["healthReason"]
        assert opt2 not in {n["name"] for n in client.data(AVAILABLE)["availableNamespaces"]}
        error = client.error(CREATE, {"label": "opt2", "ws": ws, "executor": "KubernetesExecutor", "namespace": opt2})
        assert "misconfigured" in error["message"]
        assert "create pods/exec (core)" in error["message"]

        created = {}
        for executor, ns in zip(("CeleryExecutor", "KubernetesExecutor", "LocalExecutor"), prepared, strict=False):
            made = client.data(CREATE, {"label": executor, "ws": ws, "executor": executor, "namespace": ns})
            created[made["createDeployment"]["id"]] = ns
        wait_until(
            lambda: all(deployments_by_id(client, ws)[i]["status"] == "healthy" for i in created),
            timeout=120,
            what="every Deployment healthy through the API",
        )
        shown = deployments_by_id(client, ws)
        for dep_id, ns in created.items():
            assert shown[dep_id]["urls"], shown[dep_id]
            pods = list(admin_client.list(Pod, namespace=ns))
            assert pods
            assert all(p.status.phase in ("Running", "Succeeded") for p in pods)

        celery_id = next(iter(created))
        celery_ns = created[celery_id]
        assert celery_ns not in {n["name"] for n in client.data(AVAILABLE)["availableNamespaces"]}
        client.data(DELETE, {"id": celery_id})
        wait_until(
            lambda: celery_ns in {n["name"] for n in client.data(AVAILABLE)["availableNamespaces"]},
            timeout=60,
            what="the namespace offered again",
        )
        assert uninstall.remaining(admin_client, celery_ns, celery_id) == []
        admin_client.get(Role, pool_manifests.commander_role_name(commander_env.CONFIG), namespace=celery_ns)
