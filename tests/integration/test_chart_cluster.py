"""The chart installed with a real helm into the local control plane (fake nodes): commander's RBAC follows the
pool settings through install, upgrade and uninstall, and bad values create nothing.

Each test installs its own release into its own namespace, so commander's account here is
``<release>-commander`` and never the shared ``astronomer-commander`` other tests use. Pods and real Airflow are
the business of the real-node tests (tests/realnode/test_chart_install.py).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import lightkube
import pytest
from lightkube import ApiError
from lightkube.resources.core_v1 import Namespace
from lightkube.resources.rbac_authorization_v1 import ClusterRole, Role

from airpool import devcluster
from tests.support import cluster as cluster_support
from tests.support.chart import CHART, helm

pytestmark = pytest.mark.slow


class Release:
    def __init__(self, cluster: devcluster.ClusterInfo, tmp_path: Path) -> None:
        self.name = cluster_support.unique_name("ap")
        self.namespace = self.name
        self.pool = [f"{self.name}-p{i}" for i in range(1, 4)]
        self.kubeconfig = str(cluster.admin_kubeconfig)
        self.tmp_path = tmp_path
        self.account = f"system:serviceaccount:{self.namespace}:{self.name}-commander"

    def values(self, text: str) -> Path:
        path = self.tmp_path / f"values-{abs(hash(text))}.yaml"
        path.write_text(text)
        return path

    def pool_values(self, names: list[str]) -> Path:
        listed = ", ".join(names)
        return self.values(
            "global: {features: {namespacePools: {enabled: true, namespaces: {create: true, names: ["
            + listed
            + "]}}}}\n"
        )

    def helm(self, *args: str) -> subprocess.CompletedProcess[str]:
        return helm(*args, "--kubeconfig", self.kubeconfig, "-n", self.namespace)

    def install(self, values: Path, *, command: str = "install") -> None:
        extra = ["--create-namespace"] if command == "install" else []
        result = self.helm(command, self.name, str(CHART), "-f", str(values), *extra)
        assert result.returncode == 0, result.stderr

    def can_i(self, verb: str, resource: str, namespace: str | None) -> bool:
        where = ["-n", namespace] if namespace else ["--all-namespaces"]
        result = subprocess.run(
            ["kubectl", "--kubeconfig", self.kubeconfig, "auth", "can-i", verb, resource, *where, "--as", self.account],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.stdout.strip() in ("yes", "no"), result.stdout + result.stderr
        return result.stdout.strip() == "yes"


@pytest.fixture
def release(dev_cluster: devcluster.ClusterInfo, admin_client: lightkube.Client, tmp_path: Path) -> Iterator[Release]:
    rel = Release(dev_cluster, tmp_path)
    try:
        yield rel
    finally:
        rel.helm("uninstall", rel.name)
        for name in [rel.namespace, *rel.pool]:
            with contextlib.suppress(ApiError):
                admin_client.delete(Namespace, name)


def test_pool_changes_through_helm_upgrade_move_commanders_rights(
    release: Release, admin_client: lightkube.Client
) -> None:
    role = f"{release.name}-commander"
    # No pool: one ClusterRole, so commander may read Secrets everywhere (Astronomer's default mode).
    release.install(release.values("global: {features: {namespacePools: {enabled: false}}}\n"))
    assert release.can_i("list", "secrets", None)
    admin_client.get(ClusterRole, role)

    # Switching to a pool removes every cluster-wide right and grants the pool namespaces only.
    release.install(release.pool_values(release.pool[:2]), command="upgrade")
    assert not release.can_i("list", "secrets", None)
    with pytest.raises(ApiError) as gone:
        admin_client.get(ClusterRole, role)
    assert gone.value.status.code == 404
    assert release.can_i("create", "secrets", release.pool[0])
    assert release.can_i("create", "secrets", release.pool[1])
    assert not release.can_i("create", "secrets", release.pool[2])
    assert not release.can_i("create", "secrets", "default")
    namespace = admin_client.get(Namespace, release.pool[0])
    assert namespace.metadata is not None
    assert namespace.metadata.labels is not None
    assert namespace.metadata.labels["airpool.io/pool"] == release.name

    # Adding a name grants it; removing one takes the Role away and keeps the Namespace (data may live there).
    release.install(release.pool_values([release.pool[1], release.pool[2]]), command="upgrade")
    assert release.can_i("create", "secrets", release.pool[2])
    assert not cluster_support.exists(admin_client, Role, role, release.pool[0])
    assert not release.can_i("create", "secrets", release.pool[0])
    admin_client.get(Namespace, release.pool[0])

    # Uninstall removes airpool and its rights, and keeps every pool namespace.
    result = release.helm("uninstall", release.name)
    assert result.returncode == 0, result.stderr
    assert not release.can_i("create", "secrets", release.pool[1])
    for name in release.pool:
        admin_client.get(Namespace, name)


def test_bad_values_at_install_create_nothing(release: Release, admin_client: lightkube.Client) -> None:
    bad = release.values(
        "global: {features: {namespacePools: {enabled: true, namespaces: {create: true, names: ["
        + release.pool[0]
        + "]}}}}\nastronomer: {houston: {replicas: 2}}\n"
    )
    result = release.helm("install", release.name, str(CHART), "-f", str(bad), "--create-namespace")
    assert result.returncode != 0
    assert "astronomer.houston.replicas: 2 server replicas need PostgreSQL" in result.stderr
    assert release.helm("status", release.name).returncode != 0
    with pytest.raises(ApiError) as missing:
        admin_client.get(Namespace, release.pool[0])
    assert missing.value.status.code == 404
