"""airpool installed with its Helm chart on the dev cluster's real node: its own image, PostgreSQL, two server
replicas and commander under ``astronomer-commander`` with the mounted token only; a Deployment created through
the in-cluster server reaches Airflow's own ``healthy`` while a server replica is killed; pool changes through
``helm upgrade``; ``helm uninstall`` keeps the pool namespaces and the data of live Deployments.

The chart goes into the platform namespace ``astronomer`` as release ``astronomer``, where the dev cluster has
already made commander's ServiceAccount: the test lets Helm adopt it (the documented way to bring an existing
object under a release) and, at the end, gives the dev cluster its account and token back for later tests.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import lightkube
import psycopg
import pytest
import yaml
from lightkube import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, PersistentVolumeClaim, Pod, Secret, Service

from airpool.devcluster import bootstrap, images, kubeconfig
from airpool.devcluster.realnode import network
from tests.support.airflow_realnode import IMAGE_OVERLAY, import_images
from tests.support.api_server import GraphQL
from tests.support.chart import CHART, helm
from tests.support.postgres import postgres_server

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

RELEASE = NAMESPACE = "astronomer"
POOL = ("chart-pool-1", "chart-pool-2", "chart-pool-3")
ADDED = "chart-pool-4"
ADMIN = "platform-admin"
FIGURES: list[str] = []


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ApiError):
            last = predicate()
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def pool_states(houston: GraphQL) -> dict[str, str]:
    found = houston.data("query { poolStatus { namespaces { name state } } }")["poolStatus"]["namespaces"]
    return {n["name"]: n["state"] for n in found}


def kubectl(cluster: Any, *args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(cluster.info.admin_kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def database(real_node_cluster: Any) -> Iterator[str]:
    """PostgreSQL on the host, reachable from pods at the node's address with a password (the pod range only)."""
    password = secrets.token_urlsafe(12)
    with postgres_server(listen=(network.NODE_IP, "127.0.0.1"), clients=network.POD_CIDR) as url:
        local = url.replace(network.NODE_IP, "127.0.0.1").replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(local, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE airpool LOGIN PASSWORD '{password}'")
            conn.execute("CREATE DATABASE airpool OWNER airpool ENCODING 'UTF8'")
        port = url.rsplit(":", 1)[1].split("/")[0]
        yield f"postgres://airpool:{password}@{network.NODE_IP}:{port}/airpool"


def chart_values(tmp_path: Path, image: str, names: tuple[str, ...]) -> Path:
    repository, tag = image.rsplit(":", 1)
    local = {"repository": repository, "tag": tag, "pullPolicy": "Never"}
    tree = yaml.safe_load(IMAGE_OVERLAY.read_text()) or {}
    tree.setdefault("global", {})["features"] = {
        "namespacePools": {"enabled": True, "namespaces": {"create": True, "names": list(names)}}
    }
    astronomer = tree.setdefault("astronomer", {})
    astronomer["images"] = {"houston": local, "commander": dict(local)}
    astronomer["houston"] = {
        **astronomer.get("houston", {}),
        "replicas": 2,
        "backendSecretName": "astronomer-bootstrap",
        "secret": [
            {"envName": "AIRPOOL_ADMIN_USERNAME", "secretName": "airpool-admin", "secretKey": "username"},
            {"envName": "AIRPOOL_ADMIN_PASSWORD", "secretName": "airpool-admin", "secretKey": "password"},
        ],
    }
    tree.setdefault("airpool", {})["healthCheckInterval"] = 10
    path = tmp_path / f"values-{len(names)}-{names[-1]}.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def give_back_commanders_account(cluster: Any, admin: lightkube.Client) -> None:
    """``helm uninstall`` removed the adopted account: make it again and write the dev cluster's kubeconfig."""
    token = bootstrap.commander_token(admin)
    kubeconfig.write(
        cluster.info.commander_kubeconfig,
        server=cluster.info.server,
        ca_cert=cluster.info.ca_cert,
        user=bootstrap.COMMANDER_USER,
        token=token,
    )


def test_helm_install_serves_real_airflow_and_upgrades_and_uninstalls(
    real_node_cluster: Any, database: str, tmp_path: Path
) -> None:
    admin = real_node_cluster.admin_client()
    import_images(real_node_cluster, ("3.3.2",))  # the Airflow and helper images Deployments run
    (built,) = images.build([images.AIRPOOL], report=print)
    image = real_node_cluster.import_image(built.archive)
    admin_password = secrets.token_urlsafe(12)
    kubectl(real_node_cluster, "-n", NAMESPACE, "create", "secret", "generic", "astronomer-bootstrap",
            f"--from-literal=connection={database}")  # fmt: skip
    kubectl(real_node_cluster, "-n", NAMESPACE, "create", "secret", "generic", "airpool-admin",
            f"--from-literal=username={ADMIN}", f"--from-literal=password={admin_password}")  # fmt: skip
    for key, value in (
        ("annotate", "meta.helm.sh/release-name=" + RELEASE),
        ("annotate", "meta.helm.sh/release-namespace=" + NAMESPACE),
        ("label", "app.kubernetes.io/managed-by=Helm"),
    ):
        kubectl(real_node_cluster, "-n", NAMESPACE, key, "serviceaccount", bootstrap.COMMANDER_SERVICE_ACCOUNT, value)
    values = chart_values(tmp_path, image, POOL)
    base = ["--kubeconfig", str(real_node_cluster.info.admin_kubeconfig), "-n", NAMESPACE]
    try:
        started = time.monotonic()
        result = helm("install", RELEASE, str(CHART), *base, "-f", str(values), "--wait", "--timeout", "15m")
        assert result.returncode == 0, result.stderr
        FIGURES.append(f"helm install -> server ready: {time.monotonic() - started:.0f} s")
        _check_pods_and_identity(real_node_cluster, admin)
        service = admin.get(Service, f"{RELEASE}-houston", namespace=NAMESPACE)
        assert service.spec is not None
        base_url = f"http://{service.spec.clusterIP}:8871"  # kube-proxy routes the host's connections too
        wait_until(lambda: httpx.get(f"{base_url}/readyz", timeout=30).status_code == 200, timeout=120, what="/readyz")
        houston = GraphQL(base_url).login(ADMIN, admin_password)
        wait_until(lambda: all(pool_states(houston).get(n) == "available" for n in POOL), timeout=300,
                   what="the pool namespaces offered after commander's check")  # fmt: skip
        _deployment_through_the_chart(houston, admin)

        # A namespace added through helm upgrade is offered after commander's check; a removed one retires.
        started = time.monotonic()
        upgraded = chart_values(tmp_path, image, (*POOL[:2], ADDED))
        result = helm("upgrade", RELEASE, str(CHART), *base, "-f", str(upgraded), "--wait", "--timeout", "15m")
        assert result.returncode == 0, result.stderr
        wait_until(lambda: pool_states(houston).get(ADDED) == "available", timeout=300, what=f"{ADDED} offered")
        FIGURES.append(f"helm upgrade adding a namespace -> offered: {time.monotonic() - started:.0f} s")
        assert pool_states(houston).get(POOL[2]) == "retired"

        # A live Deployment's namespace and data outlive the platform's uninstall.
        kept = _create(houston, "kept", POOL[1])
        wait_until(lambda: list(admin.list(PersistentVolumeClaim, namespace=POOL[1])), timeout=300,
                   what=f"the Airflow database's volume in {POOL[1]}")  # fmt: skip
        claims = {c.metadata.name for c in admin.list(PersistentVolumeClaim, namespace=POOL[1]) if c.metadata}
        result = helm("uninstall", RELEASE, *base, "--wait")
        assert result.returncode == 0, result.stderr
        assert kept
        for name in (*POOL, ADDED):
            admin.get(Namespace, name)
        after = {c.metadata.name for c in admin.list(PersistentVolumeClaim, namespace=POOL[1]) if c.metadata}
        assert claims <= after
        assert not list(admin.list(Deployment, namespace=NAMESPACE, labels={"app.kubernetes.io/name": "airpool"}))
    finally:
        helm("uninstall", RELEASE, *base, "--wait")
        for name in (*POOL, ADDED):
            with contextlib.suppress(ApiError):
                admin.delete(Namespace, name)
        with contextlib.suppress(ApiError):
            admin.delete(Secret, "astronomer-bootstrap", namespace=NAMESPACE)
        with contextlib.suppress(ApiError):
            admin.delete(Secret, "airpool-admin", namespace=NAMESPACE)
        give_back_commanders_account(real_node_cluster, admin)
        if FIGURES:
            print("\nchart figures:\n  " + "\n  ".join(FIGURES))


def _check_pods_and_identity(cluster: Any, admin: lightkube.Client) -> None:
    pods = [p for p in admin.list(Pod, namespace=NAMESPACE, labels={"app.kubernetes.io/name": "airpool"})]
    by_component: dict[str, list[Pod]] = {}
    for pod in pods:
        assert pod.metadata is not None
        assert pod.metadata.labels is not None
        by_component.setdefault(pod.metadata.labels.get("component", ""), []).append(pod)
    ready = [
        p
        for p in by_component.get("houston", [])
        if p.status and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]
    assert len(ready) == 2, [p.metadata.name for p in pods if p.metadata]
    assert len(by_component.get("commander", [])) == 1

    # No admin credential anywhere: the server has no token at all; commander only its own projected token.
    for pod in pods:
        assert pod.spec is not None
        text = json.dumps(pod.spec.to_dict())
        assert "kubeconfig" not in text.lower()
        mounted_secrets = [v.secret.secretName for v in pod.spec.volumes or [] if v.secret is not None]
        assert mounted_secrets == []
    for pod in by_component["houston"]:
        assert pod.spec is not None
        assert pod.spec.automountServiceAccountToken is False

    # Who the API server sees, asked from inside commander's pod with its mounted token.
    review = kubectl(
        cluster,
        "-n",
        NAMESPACE,
        "exec",
        f"deploy/{RELEASE}-commander",
        "--",
        "/opt/airpool/bin/python",
        "-c",
        "from lightkube import Client; from lightkube.config.kubeconfig import KubeConfig; "
        "from lightkube.resources.authentication_v1 import SelfSubjectReview as R; "
        "from lightkube.models.meta_v1 import ObjectMeta; "
        "c = Client(KubeConfig.from_service_account()); "
        "print(c.create(R(metadata=ObjectMeta())).status.userInfo.username)",
    )
    assert review.strip() == "system:serviceaccount:astronomer:astronomer-commander"


CREATE = """
mutation($label: String!, $ws: Uuid!, $namespace: String) {
  createDeployment(label: $label, workspaceUuid: $ws, executor: LocalExecutor, namespace: $namespace) { id }
}"""


def _create(houston: GraphQL, label: str, namespace: str) -> str:
    ws = houston.data("query { workspaces { id } }")["workspaces"][0]["id"]
    made = houston.data(CREATE, {"label": label, "ws": ws, "namespace": namespace})
    return str(made["createDeployment"]["id"])


def _status(houston: GraphQL, dep_id: str) -> str:
    ws = houston.data("query { workspaces { id } }")["workspaces"][0]["id"]
    found = houston.data("query($ws: Uuid!) { workspaceDeployments(workspaceUuid: $ws) { id status } }", {"ws": ws})[
        "workspaceDeployments"
    ]
    return str(next((d["status"] for d in found if d["id"] == dep_id), "gone"))


def _deployment_through_the_chart(houston: GraphQL, admin: lightkube.Client) -> None:
    """Create, reach Airflow's healthy (one server replica killed on the way), hard delete, namespace back."""
    namespace = POOL[0]
    started = time.monotonic()
    dep_id = _create(houston, "through the chart", namespace)
    victim = next(
        p.metadata.name
        for p in admin.list(Pod, namespace=NAMESPACE, labels={"component": "houston"})
        if p.metadata is not None and p.metadata.name
    )
    admin.delete(Pod, victim, namespace=NAMESPACE)
    # Every request of the user keeps working while that replica goes away: no retries in _status.
    deadline = time.monotonic() + 900
    while _status(houston, dep_id) != "healthy":
        assert time.monotonic() < deadline, f"not healthy within 900 s: {_status(houston, dep_id)}"
        time.sleep(3)
    FIGURES.append(f"create through the chart's server -> Airflow healthy: {time.monotonic() - started:.0f} s")
    houston.data("mutation($id: Uuid!) { deleteDeployment(deploymentUuid: $id) { id } }", {"id": dep_id})
    wait_until(lambda: pool_states(houston).get(namespace) == "available", timeout=600, what=f"{namespace} back")
