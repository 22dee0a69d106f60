"""The images `airpool dev images` builds, run as pods on the dev cluster's real node: the same archives imported
into its containerd, started by the kubelet with only ``args:``, as the rendered Deployments do."""

from __future__ import annotations

from collections.abc import Iterator

import lightkube
import pytest
from lightkube import codecs
from lightkube.resources.core_v1 import Pod, ServiceAccount

from airpool.devcluster import images
from tests.support import cluster as cluster_support
from tests.support.realnode import RealNodeCluster

pytestmark = [pytest.mark.images]

POD_TIMEOUT = 900.0  # a loaded 2-core machine: container start, then Airflow's imports


@pytest.fixture(scope="module")
def image_namespace(real_node_cluster: RealNodeCluster) -> Iterator[tuple[lightkube.Client, str]]:
    client = real_node_cluster.admin_client()
    with cluster_support.fresh_namespace(client, prefix="img") as name:
        cluster_support.wait_for(
            lambda: _has_default_account(client, name), timeout=120, what="the default ServiceAccount"
        )
        yield client, name


def _has_default_account(client: lightkube.Client, namespace: str) -> bool:
    try:
        client.get(ServiceAccount, "default", namespace=namespace)
    except lightkube.ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    return True


def _import(cluster: RealNodeCluster, key_name: str) -> str:
    (built,) = images.build([images.find(key_name)], report=lambda _: None)
    return cluster.import_image(built.archive)


def _finished(client: lightkube.Client, name: str, namespace: str) -> str:
    """Wait for the pod to end; its phase and its log."""

    def phase() -> str:
        pod = client.get(Pod, name, namespace=namespace)
        return str(pod.status.phase) if pod.status else ""

    cluster_support.wait_for(
        lambda: phase() in {"Succeeded", "Failed"}, timeout=POD_TIMEOUT, interval=1.0, what=f"pod {name} to end"
    )
    logs = "".join(client.log(name, namespace=namespace))
    assert phase() == "Succeeded", logs
    return logs


def _pod(name: str, container: dict[str, object], **spec: object) -> Pod:
    document = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [container], **spec},
    }
    pod = codecs.from_dict(document)
    assert isinstance(pod, Pod)
    return pod


@pytest.mark.parametrize("version", images.AIRFLOW_VERSIONS)
def test_airflow_version_in_a_pod(
    real_node_cluster: RealNodeCluster, image_namespace: tuple[lightkube.Client, str], version: str
) -> None:
    reference = _import(real_node_cluster, f"airflow:{version}")
    assert reference == f"localhost/airpool/airflow:{version}"
    client, ns = image_namespace
    name = f"airflow-{version.replace('.', '-')}"
    container = {"name": "airflow", "image": reference, "imagePullPolicy": "Never", "args": ["airflow", "version"]}
    client.create(_pod(name, container), namespace=ns)
    assert _finished(client, name, ns).strip().splitlines()[-1] == version


def test_postgres_initialises_utf8_in_a_pod(
    real_node_cluster: RealNodeCluster, image_namespace: tuple[lightkube.Client, str]
) -> None:
    reference = _import(real_node_cluster, "postgres:17")
    client, ns = image_namespace
    env = {"POSTGRES_USER": "airflow", "POSTGRES_PASSWORD": "s3cret", "POSTGRES_DB": "airflow"}
    env["PGDATA"] = "/var/lib/postgresql/data/pgdata"
    container = {
        "name": "postgresql",
        "image": reference,
        "imagePullPolicy": "Never",
        "args": ["postgres", "--version"],  # the entrypoint initialises PGDATA first
        "env": [{"name": key, "value": value} for key, value in env.items()],
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
    }
    client.create(_pod("postgres", container, volumes=[{"name": "data", "emptyDir": {}}]), namespace=ns)
    logs = _finished(client, "postgres", ns)
    assert "initialised /var/lib/postgresql/data/pgdata (UTF8) with database airflow owned by airflow" in logs
    assert "postgres (PostgreSQL) 17" in logs
