"""Commander's uninstall against the real API server (kwok nodes), with commander's own token: what it deletes
(exactly the Deployment's labelled objects, never a look-alike), and that it returns only once nothing of the
Deployment is left, whatever appears while it waits (a pod a controller makes late, an object written after its
first look)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

import lightkube
import pytest
from lightkube.models.core_v1 import Container, PodSpec, ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.apps_v1 import ReplicaSet
from lightkube.resources.core_v1 import ConfigMap, Pod, Secret, Service
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from lightkube.types import PatchType

from airpool.commander import install, kinds, uninstall
from airpool.domain.deployments import Executor
from airpool.manifests import pool
from airpool.manifests.airflow import common
from airpool.manifests.airflow.spec import AirflowSpec
from tests.support import cluster, commander_env, fake_nodes

pytestmark = pytest.mark.slow

HOLD = "airpool.test/hold"


@dataclasses.dataclass(frozen=True)
class Installed:
    namespace: str
    spec: AirflowSpec

    @property
    def owned(self) -> dict[str, str]:
        return common.ownership_labels(self.spec)


@pytest.fixture
def installed(admin_client: lightkube.Client, commander_client: lightkube.Client) -> Iterator[Installed]:
    """A healthy CeleryExecutor Deployment in a pool namespace (workloads, their ReplicaSets and pods)."""
    with commander_env.pool_namespace(admin_client) as ns:
        spec = AirflowSpec(
            deployment_id="dep-del",
            release_name="quiet-orbit-1234",
            namespace=ns,
            executor=Executor.CELERY,
            **fake_nodes.SPEC,
        )
        install.install(commander_client, spec)
        commander_env.wait_healthy(commander_client, spec)
        yield Installed(ns, spec)


def _pod(name: str, namespace: str, labels: dict[str, str], **meta: Any) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=labels, **meta),
        spec=PodSpec(containers=[Container(name="main", image="registry.invalid/none:1")]),
    )


def test_uninstall_deletes_the_deployments_objects_and_never_a_look_alike(
    installed: Installed, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    ns, dep = installed.namespace, installed.spec.deployment_id
    release_labels = {"tier": "airflow", "release": installed.spec.release_name, "component": "scheduler"}
    look_alikes: list[tuple[Any, Any]] = [
        # The Deployment's id without airpool's managed-by label, or with another manager's.
        (ConfigMap, ConfigMap(metadata=ObjectMeta(name="no-manager", labels={common.DEPLOYMENT_LABEL: dep}))),
        (
            ConfigMap,
            ConfigMap(
                metadata=ObjectMeta(name="helm-made", labels={common.MANAGED_BY: "Helm", common.DEPLOYMENT_LABEL: dep})
            ),
        ),
        # The same release and component labels the Deployment's pods and Services carry, but not its ownership.
        (Pod, _pod("admins-pod", ns, {**release_labels, common.RELEASE_LABEL: installed.spec.release_name})),
        (
            Service,
            Service(
                metadata=ObjectMeta(name="admins-service", labels=release_labels),
                spec=ServiceSpec(selector=release_labels, ports=[ServicePort(port=80)]),
            ),
        ),
        # Another Deployment's object whose id starts with this one's.
        (
            Secret,
            Secret(
                metadata=ObjectMeta(
                    name="twin-secret",
                    labels={common.MANAGED_BY: common.MANAGED_BY_VALUE, common.DEPLOYMENT_LABEL: f"{dep}-2"},
                )
            ),
        ),
    ]
    for _, obj in look_alikes:
        obj.metadata.namespace = ns
        admin_client.create(obj)

    result = uninstall.uninstall(commander_client, namespace=ns, deployment_id=dep)

    assert uninstall.remaining(admin_client, ns, dep) == []
    assert result.deleted > 40
    for resource, obj in look_alikes:
        assert cluster.exists(admin_client, resource, obj.metadata.name, ns), (
            f"{obj.kind} {obj.metadata.name} was deleted"
        )
    # The last look reports the other Deployment's object: the check before offering the namespace refuses it.
    assert result.others == (f"Secret twin-secret (Deployment {dep}-2)",)
    name = pool.commander_role_name(commander_env.CONFIG)
    admin_client.get(Role, name, namespace=ns)
    admin_client.get(RoleBinding, name, namespace=ns)


def test_a_pod_a_controller_makes_while_the_uninstall_runs_is_gone_before_it_returns(
    installed: Installed, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    """Right after commander's first delete, a pod of one of the Deployment's ReplicaSets appears (as a
    ReplicaSet controller makes one): the uninstall returns only once it is gone too."""
    ns, dep = installed.namespace, installed.spec.deployment_id
    owner = next(iter(admin_client.list(ReplicaSet, namespace=ns, labels=kinds.owned_by(dep))))
    late = _pod(
        "late-pod",
        ns,
        installed.owned,
        ownerReferences=[
            OwnerReference(
                apiVersion="apps/v1",
                kind="ReplicaSet",
                name=owner.metadata.name,
                uid=owner.metadata.uid,
                controller=True,
                blockOwnerDeletion=True,
            )
        ],
    )
    made = threading.Event()

    def fence() -> None:
        if not made.is_set():
            made.set()
            admin_client.create(late)

    uninstall.uninstall(commander_client, namespace=ns, deployment_id=dep, fence=fence)

    assert made.is_set()
    assert not cluster.exists(admin_client, Pod, "late-pod", ns)
    assert uninstall.remaining(admin_client, ns, dep) == []


def test_an_object_written_after_the_first_look_is_found_by_the_last(
    installed: Installed,
    admin_client: lightkube.Client,
    commander_client: lightkube.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While it waits, commander looks again only at the kinds that still held something; a Secret of the
    Deployment written meanwhile (by a worker that lost its lease) is found by the look at every kind it makes
    before returning, and deleted."""
    ns, dep = installed.namespace, installed.spec.deployment_id
    # An object of the Deployment that stays terminating until the test lets it go, so commander has to wait.
    admin_client.create(
        ConfigMap(metadata=ObjectMeta(name="held-config", namespace=ns, labels=installed.owned, finalizers=[HOLD]))
    )
    looks: list[tuple[kinds.Kind, ...]] = []
    real_look: Callable[..., Any] = uninstall._look

    def look(client: lightkube.Client, wanted: tuple[kinds.Kind, ...], *args: Any, **kwargs: Any) -> Any:
        looks.append(wanted)
        if [k.kind for k in wanted] == ["ConfigMap"] and not cluster.exists(admin_client, Secret, "late-secret", ns):
            # A look at the held kind only: write a Secret of the Deployment, then let the ConfigMap go.
            admin_client.create(Secret(metadata=ObjectMeta(name="late-secret", namespace=ns, labels=installed.owned)))
            admin_client.patch(
                ConfigMap, "held-config", {"metadata": {"finalizers": None}}, namespace=ns, patch_type=PatchType.MERGE
            )
        return real_look(client, wanted, *args, **kwargs)

    monkeypatch.setattr(uninstall, "_look", look)
    result = uninstall.uninstall(commander_client, namespace=ns, deployment_id=dep)

    # The first look after the deletes: what a finalizer holds, and what the controllers being removed can make.
    assert {k.kind for k in looks[0]} == {"ConfigMap", "Job", "ReplicaSet", "Pod"}
    assert any([k.kind for k in w] == ["ConfigMap"] for w in looks), looks  # it did narrow its looks
    assert not cluster.exists(admin_client, Secret, "late-secret", ns)
    assert not cluster.exists(admin_client, ConfigMap, "held-config", ns)
    assert uninstall.remaining(admin_client, ns, dep) == []
    assert looks[-1] == kinds.NAMESPACED_KINDS
    assert result.others == ()
