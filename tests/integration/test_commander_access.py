"""Commander's least privilege against the real API server: preflight refusals change nothing, a namespace
outside the pool gets the API server's own 403, and cluster-scoped work needs cluster rights."""

from __future__ import annotations

import time
from collections.abc import Callable

import lightkube
import pytest
from lightkube.resources.core_v1 import ConfigMap, PersistentVolume, PersistentVolumeClaim, Secret, ServiceAccount

from airpool.commander import errors, install, preflight, uninstall
from airpool.domain.deployments import Executor
from airpool.manifests import rbac
from airpool.manifests.airflow.spec import AirflowSpec, DagDeployment
from tests.support import cluster as cluster_support
from tests.support import commander_env, fake_nodes, guide_roles

pytestmark = pytest.mark.slow


def spec_for(namespace: str, executor: Executor = Executor.CELERY, **kw: object) -> AirflowSpec:
    return AirflowSpec(
        deployment_id="dep-acc",
        release_name="polar-comet-4321",
        namespace=namespace,
        executor=executor,
        **{**fake_nodes.SPEC, **kw},
    )  # type: ignore[arg-type]


def assert_untouched(admin: lightkube.Client, namespace: str) -> None:
    assert uninstall.remaining(admin, namespace, "dep-acc") == []
    assert commander_env.objects_in(admin, namespace, ServiceAccount) in ([], ["default"])
    assert [n for n in commander_env.objects_in(admin, namespace, ConfigMap) if n != "kube-root-ca.crt"] == []
    assert commander_env.objects_in(admin, namespace, Secret) == []


def retry_until(
    action: Callable[[], object],
    *,
    refused: type[Exception] = errors.PermissionsMissing,
    timeout: float = 120,
) -> object:
    """RBAC changes reach the authorizer's cache within moments; retry a refused action briefly."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except refused:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_guide_role_fails_before_any_change_then_succeeds_once_extended(
    admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with cluster_support.fresh_namespace(admin_client, prefix="opt2") as ns:
        commander_env.grant_guide_role(admin_client, ns)
        spec = spec_for(ns, Executor.KUBERNETES)
        with pytest.raises(errors.PermissionsMissing) as caught:
            retry_until(lambda: install.install(commander_client, spec), refused=errors.ClusterRefused)
        missing = caught.value.missing
        for expected in (
            f"create pods (core) in namespace {ns}",
            f"create pods/exec (core) in namespace {ns}",
            f"get pods/log (core) in namespace {ns}",
            f"patch jobs (batch) in namespace {ns}",
        ):
            assert expected in missing
        assert f"create secrets (core) in namespace {ns}" not in missing
        assert "nothing was changed" in caught.value.message
        assert_untouched(admin_client, ns)

        # The admin extends the Role with exactly what was reported; the retried job succeeds.
        lacking = rbac.missing(preflight.needs(spec, manage_namespace=False).namespaced, guide_roles.GUIDE_POLICY)
        extra = tuple(
            rbac.PolicyRule(
                api_groups=(c.group,),
                resources=(f"{c.resource}/{c.subresource}" if c.subresource else c.resource,),
                verbs=(c.verb,),
            )
            for c in lacking
        )
        commander_env.grant_guide_role(admin_client, ns, extra)
        result = retry_until(lambda: install.install(commander_client, spec))
        assert isinstance(result, install.InstallResult)
        assert result.applied > 40
        commander_env.wait_healthy(commander_client, spec)


def test_namespace_outside_the_pool_gets_the_api_servers_own_403_and_nothing_changes(
    admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with cluster_support.fresh_namespace(admin_client, prefix="outside") as ns:
        with pytest.raises(errors.ClusterRefused) as caught:
            install.install(commander_client, spec_for(ns))
        assert caught.value.status == 403
        assert caught.value.message == (
            'secrets is forbidden: User "system:serviceaccount:astronomer:astronomer-commander" cannot list '
            f'resource "secrets" in API group "" in the namespace "{ns}"'
        )
        assert_untouched(admin_client, ns)


def test_nfs_dags_in_a_pool_without_cluster_roles_is_refused_with_the_guides_reason(
    admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with commander_env.pool_namespace(admin_client) as ns:
        spec = spec_for(ns, dags=DagDeployment.nfs("nfs.example.com:/exports/dags"))
        with pytest.raises(errors.CommanderError, match="NFS DAG deploys don't work if you both use namespace pools"):
            install.install(commander_client, spec, pool_enabled=True, cluster_roles=False)
        # clusterRoles true but the ClusterRole for PersistentVolumes not granted: preflight names it.
        with pytest.raises(errors.PermissionsMissing) as caught:
            install.install(commander_client, spec, pool_enabled=True, cluster_roles=True)
        assert "create persistentvolumes (core) cluster-wide" in caught.value.missing
        assert_untouched(admin_client, ns)


def test_nfs_dags_get_a_bound_volume_and_uninstall_removes_it(
    admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with (
        commander_env.pool_namespace(admin_client) as ns,
        commander_env.cluster_grant(admin_client, rbac.PERSISTENT_VOLUME_RULES),
    ):
        spec = spec_for(ns, Executor.CELERY, dags=DagDeployment.nfs("nfs.example.com:/exports/dags"))
        retry_until(lambda: install.install(commander_client, spec))
        commander_env.wait_healthy(commander_client, spec)
        pvc = admin_client.get(PersistentVolumeClaim, "polar-comet-4321-dags", namespace=ns)
        assert pvc.status.phase == "Bound"
        assert pvc.spec.volumeName == spec.nfs_volume_name
        uninstall.uninstall(commander_client, namespace=ns, deployment_id="dep-acc", cluster_scoped=True)
        assert uninstall.remaining(admin_client, ns, "dep-acc", cluster_scoped=True) == []
        assert spec.nfs_volume_name not in [pv.metadata.name for pv in admin_client.list(PersistentVolume)]


def test_without_a_pool_commander_creates_and_deletes_the_namespace(
    admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    ns = cluster_support.unique_name("nopool")
    rules = rbac.COMMANDER_NAMESPACE_RULES + rbac.NAMESPACE_LIFECYCLE_RULES
    with commander_env.cluster_grant(admin_client, rules):
        spec = spec_for(ns, Executor.LOCAL)
        retry_until(
            lambda: install.install(
                commander_client, spec, manage_namespace=True, namespace_labels=(("team", "data"),), pool_enabled=False
            )
        )
        labels = admin_client.get(lightkube.resources.core_v1.Namespace, ns).metadata.labels
        assert labels["team"] == "data"
        assert labels["app.kubernetes.io/managed-by"] == "airpool"
        commander_env.wait_healthy(commander_client, spec)
        uninstall.uninstall(commander_client, namespace=ns, deployment_id="dep-acc", delete_namespace=True)
        assert not commander_env.namespace_exists(admin_client, ns)
