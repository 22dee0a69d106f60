"""Preparing namespaces the way an admin would (as admin), for commander tests that then act as commander."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import lightkube
from lightkube import ApiError, codecs
from lightkube.resources.core_v1 import Pod
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding
from lightkube.types import PatchType

from airpool.commander import status, uninstall
from airpool.config.model import PlatformConfig
from airpool.domain.deployments import DeploymentStatus
from airpool.kube.client import ADMIN_FIELD_MANAGER
from airpool.manifests import pool, rbac
from tests.support import cluster as cluster_support

CONFIG = PlatformConfig()


def admin_apply(client: lightkube.Client, objs: list[dict[str, Any]]) -> None:
    for obj in objs:
        client.apply(codecs.from_dict(obj), field_manager=ADMIN_FIELD_MANAGER, force=True)


def grant_pool_role(client: lightkube.Client, namespace: str) -> None:
    """Commander's Role and RoleBinding from the one source of its rules (the seed's Option 1)."""
    name = pool.commander_role_name(CONFIG)
    admin_apply(
        client,
        [
            pool.role(CONFIG, name, namespace, rbac.COMMANDER_NAMESPACE_RULES),
            pool.role_binding(CONFIG, name, namespace),
        ],
    )


@contextlib.contextmanager
def pool_namespace(client: lightkube.Client) -> Iterator[str]:
    with cluster_support.fresh_namespace(client, prefix="pool") as ns:
        grant_pool_role(client, ns)
        yield ns


@contextlib.contextmanager
def cluster_grant(client: lightkube.Client, rules: tuple[rbac.PolicyRule, ...]) -> Iterator[str]:
    """A ClusterRole + ClusterRoleBinding for commander, removed afterwards (the cluster is shared by the whole
    session, so it must not outlive the test)."""
    name = cluster_support.unique_name("commander-cluster")
    admin_apply(client, [pool.cluster_role(CONFIG, name, rules), pool.cluster_role_binding(CONFIG, name)])
    try:
        yield name
    finally:
        with contextlib.suppress(ApiError):
            client.delete(ClusterRoleBinding, name)
        with contextlib.suppress(ApiError):
            client.delete(ClusterRole, name)


def wait_healthy(client: lightkube.Client, spec: Any, timeout: float = 90) -> status.StatusReport:
    deadline = time.monotonic() + timeout
    report = status.check(client, spec)
    while report.status is not DeploymentStatus.HEALTHY:
        assert report.status is DeploymentStatus.DEPLOYING, report.message
        if time.monotonic() > deadline:
            raise AssertionError(f"not healthy after {timeout} s: {report.message}")
        time.sleep(0.3)
        report = status.check(client, spec)
    return report


def namespace_exists(client: lightkube.Client, name: str) -> bool:
    return not uninstall.namespace_gone(client, name)


def objects_in(client: lightkube.Client, namespace: str, resource: Any) -> list[str]:
    return [o.metadata.name for o in client.list(resource, namespace=namespace)]


def crash_pod(client: lightkube.Client, namespace: str, component: str) -> str:
    """Make one pod of ``component`` look like a crashing container (kwok runs none): its containers wait in
    CrashLoopBackOff and are not ready. Returns the pod's name."""
    pod = next(iter(client.list(Pod, namespace=namespace, labels={"component": component})))
    statuses = [c.to_dict() for c in pod.status.containerStatuses]
    for cs in statuses:
        cs["ready"] = False
        cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}}
    client.patch(
        Pod.Status,
        pod.metadata.name,
        {"status": {"containerStatuses": statuses}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    return str(pod.metadata.name)


def applied_objects(client: lightkube.Client, namespace: str, deployment_id: str) -> set[str]:
    """``Kind name`` of the Deployment's objects commander applied: without what controllers made from them
    (pods, ReplicaSets, and the Jobs the cleanup CronJob starts every 15 minutes)."""
    out = set()
    for item in uninstall.remaining(client, namespace, deployment_id):
        kind, name = item.split(" ", 1)
        if kind in ("Pod", "ReplicaSet") or (kind == "Job" and "-cleanup-" in name):
            continue
        out.add(item)
    return out
