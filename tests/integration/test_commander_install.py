"""Commander against the real API server (kwok nodes): install, status, re-apply and uninstall in a pool namespace.

The pool namespace is prepared as an admin with commander's Role from ``airpool.manifests.rbac`` (the one
source of its rules) bound to commander's real ServiceAccount; commander itself acts only with its own token.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import lightkube
import pytest
from lightkube.models.core_v1 import ResourceQuotaSpec, ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod, ResourceQuota, Secret, Service
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from airpool.commander import install, kinds, status, uninstall
from airpool.domain.deployments import DeploymentStatus, Executor
from airpool.manifests import pool
from airpool.manifests.airflow import common, render, settings, workloads
from airpool.manifests.airflow.spec import AirflowSpec
from tests.support import cluster as cluster_support
from tests.support import commander_env, fake_nodes


@pytest.fixture
def pool_namespace(admin_client: lightkube.Client) -> Iterator[str]:
    """A namespace prepared like a pool member: commander's Role and RoleBinding applied by an admin."""
    with commander_env.pool_namespace(admin_client) as ns:
        yield ns


def make_spec(namespace: str, executor: Executor, deployment_id: str = "dep-1") -> AirflowSpec:
    return AirflowSpec(
        deployment_id=deployment_id,
        release_name="lunar-rocket-1234",
        namespace=namespace,
        executor=executor,
        **fake_nodes.SPEC,
    )


@pytest.mark.slow
@pytest.mark.parametrize("executor", list(Executor))
def test_install_in_pool_namespace_reaches_healthy_and_uninstall_leaves_pool_rbac(
    executor: Executor, pool_namespace: str, commander_client: lightkube.Client, admin_client: lightkube.Client
) -> None:
    spec = make_spec(pool_namespace, executor)
    result = install.install(commander_client, spec)
    rendered = render.render(spec, settings.secrets_from_existing(spec, {}))
    assert result.applied == len(rendered)

    for obj in rendered:
        kind = kinds.kind_of(obj)
        got = admin_client.get(kind.resource, obj["metadata"]["name"], namespace=pool_namespace)
        assert got.metadata.labels[common.DEPLOYMENT_LABEL] == "dep-1"
    report = commander_env.wait_healthy(commander_client, spec)
    assert report.ready == report.total > 0
    # Fake nodes run no Airflow: the message says, in a user's words, what healthy rests on and which key decides.
    assert report.message == (
        f"all {report.total} workloads ready: their pods report ready, but Airflow itself was not asked whether it "
        "is healthy (values.yaml sets airpool.airflow.readHealthEndpoint: false, meant for simulated nodes where no "
        "Airflow runs)"
    )
    pods = list(admin_client.list(Pod, namespace=pool_namespace))
    assert pods
    assert all(p.status.phase in ("Running", "Succeeded") for p in pods)

    # Re-apply converges without rotating any secret.
    fernet_before = admin_client.get(Secret, "lunar-rocket-1234-fernet-key", namespace=pool_namespace).data
    install.install(commander_client, spec)
    fernet_after = admin_client.get(Secret, "lunar-rocket-1234-fernet-key", namespace=pool_namespace).data
    assert fernet_before == fernet_after

    # The pool's own objects (an admin's quota here, commander's Role below) carry no Deployment label.
    admin_client.create(
        ResourceQuota(
            metadata=ObjectMeta(name="pool-quota", namespace=pool_namespace),
            spec=ResourceQuotaSpec(hard={"pods": "500"}),
        )
    )
    uninstall.uninstall(commander_client, namespace=pool_namespace, deployment_id="dep-1")
    assert uninstall.remaining(admin_client, pool_namespace, "dep-1") == []
    admin_client.get(ResourceQuota, "pool-quota", namespace=pool_namespace)
    name = pool.commander_role_name(commander_env.CONFIG)
    admin_client.get(Role, name, namespace=pool_namespace)
    admin_client.get(RoleBinding, name, namespace=pool_namespace)


@pytest.mark.slow
def test_a_crashing_pod_turns_the_deployment_unhealthy_with_a_readable_message(
    pool_namespace: str, commander_client: lightkube.Client, admin_client: lightkube.Client
) -> None:
    spec = make_spec(pool_namespace, Executor.LOCAL, deployment_id="dep-crash")
    install.install(commander_client, spec)
    commander_env.wait_healthy(commander_client, spec)
    crashed = commander_env.crash_pod(admin_client, pool_namespace, "scheduler")
    report = status.check(commander_client, spec, read_health_endpoint=False)
    assert report.status is DeploymentStatus.UNHEALTHY
    assert report.message == f"pod {crashed} container scheduler: CrashLoopBackOff"


@pytest.mark.slow
def test_upgrade_replaces_the_migration_job_and_keeps_every_secret(
    pool_namespace: str, commander_client: lightkube.Client, admin_client: lightkube.Client
) -> None:
    old = dataclasses.replace(make_spec(pool_namespace, Executor.CELERY, "dep-up"), airflow_version="2.10.5")
    install.install(commander_client, old)
    commander_env.wait_healthy(commander_client, old)
    secrets_before = {s.metadata.name: s.data for s in admin_client.list(Secret, namespace=pool_namespace)}

    new = dataclasses.replace(old, airflow_version="3.1.3")
    install.install(commander_client, new)
    commander_env.wait_healthy(commander_client, new)
    job = admin_client.get(Job, "lunar-rocket-1234-run-airflow-migrations", namespace=pool_namespace)
    assert job.spec.template.spec.containers[0].image == "apache/airflow:3.1.3"
    secrets_after = {s.metadata.name: s.data for s in admin_client.list(Secret, namespace=pool_namespace)}
    for name, data in secrets_before.items():
        assert secrets_after[name] == data, name  # nothing rotated by the upgrade
    deployments_now = {d.metadata.name for d in admin_client.list(Deployment, namespace=pool_namespace)}
    assert "lunar-rocket-1234-api-server" in deployments_now
    # What 3.x no longer has (the 2.x webserver, its account, service and policy) is pruned by the upgrade.
    rendered = render.render(new, settings.secrets_from_existing(new, {}))
    expected = {f"{o['kind']} {o['metadata']['name']}" for o in rendered}
    cluster_support.wait_for(
        lambda: (
            {
                i
                for i in uninstall.remaining(admin_client, pool_namespace, "dep-up")
                if i.split()[0] not in ("Pod", "ReplicaSet")
            }
            == expected
        ),
        timeout=120,
        what="exactly the 3.x objects",
    )
    uninstall.uninstall(commander_client, namespace=pool_namespace, deployment_id="dep-up")
    assert uninstall.remaining(admin_client, pool_namespace, "dep-up") == []


def test_airflows_health_endpoint_is_read_through_the_service_proxy_with_commanders_identity(
    pool_namespace: str, commander_client: lightkube.Client, admin_client: lightkube.Client
) -> None:
    """``kube.proxy``: the GET reaches the API server's service proxy as commander. A Service with no ready
    endpoint (fake nodes run no Airflow) is answered 503 by the API server; a namespace where commander lacks
    ``get services/proxy`` 403, which the status names as such."""
    spec = make_spec(pool_namespace, Executor.LOCAL, deployment_id="dep-proxy")
    service = common.name(spec, workloads.webserver_component(spec))
    admin_client.create(
        Service(
            metadata=ObjectMeta(name=service, namespace=pool_namespace),
            spec=ServiceSpec(selector={"app": "nothing-runs-here"}, ports=[ServicePort(port=common.API_PORT)]),
        )
    )
    verdict = status.read_airflow_health(commander_client, spec)
    assert verdict.status is DeploymentStatus.UNHEALTHY
    assert verdict.message.startswith(
        f"Airflow's health endpoint (service {service} in {pool_namespace}) answered 503: "
    ), verdict.message
    with cluster_support.fresh_namespace(admin_client, prefix="noproxy") as bare:
        verdict = status.read_airflow_health(commander_client, dataclasses.replace(spec, namespace=bare))
        assert verdict.status is DeploymentStatus.UNHEALTHY
        assert verdict.message == (
            f"commander may not read Airflow's health endpoint: it lacks get services/proxy (core) in namespace {bare}"
        )
