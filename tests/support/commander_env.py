"""Preparing namespaces the way an admin would (as admin), for commander tests that then act as commander."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import lightkube
from lightkube import ApiError, codecs
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.authorization_v1 import SubjectAccessReview
from lightkube.resources.core_v1 import Pod
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding, RoleBinding
from lightkube.types import PatchType

from airpool.commander import preflight, status, uninstall
from airpool.config.model import PlatformConfig
from airpool.domain.deployments import DeploymentStatus
from airpool.kube.client import ADMIN_FIELD_MANAGER
from airpool.manifests import pool, rbac
from tests.support import cluster as cluster_support
from tests.support import guide_roles

CONFIG = PlatformConfig()


def admin_apply(client: lightkube.Client, objs: list[dict[str, Any]]) -> None:
    for obj in objs:
        client.apply(codecs.from_dict(obj), field_manager=ADMIN_FIELD_MANAGER, force=True)


COMMANDER_USER = "system:serviceaccount:astronomer:astronomer-commander"
COMMANDER_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:astronomer", "system:authenticated"]


def await_access(
    admin: lightkube.Client,
    namespace: str | None,
    *,
    verb: str,
    resource: str,
    group: str = "",
    subresource: str | None = None,
    timeout: float = 120,
) -> None:
    """Wait until the API server's authorizer lets commander do this (RBAC objects reach its cache a moment
    after they are written). Asked by the admin with a SubjectAccessReview, answered by the same authorizer."""

    def allowed() -> bool:
        review = SubjectAccessReview(
            spec=SubjectAccessReviewSpec(
                user=COMMANDER_USER,
                groups=COMMANDER_GROUPS,
                resourceAttributes=ResourceAttributes(
                    verb=verb, resource=resource, group=group, subresource=subresource, namespace=namespace
                ),
            )
        )
        status = admin.create(review).status
        return bool(status and status.allowed)

    cluster_support.wait_for(allowed, timeout=timeout, interval=0.05, what=f"commander may {verb} {resource}")


def grant_pool_role(client: lightkube.Client, namespace: str) -> None:
    """Commander's Role and RoleBinding from the one source of its rules (airpool creates the pool), in effect."""
    name = pool.commander_role_name(CONFIG)
    admin_apply(
        client,
        [
            pool.role(CONFIG, name, namespace, rbac.COMMANDER_NAMESPACE_RULES),
            pool.role_binding(CONFIG, name, namespace),
        ],
    )
    await_access(client, namespace, verb="create", resource="pods", subresource="exec")


def revoke_pool_role(admin: lightkube.Client, commander: lightkube.Client, namespace: str) -> None:
    """Remove the RoleBinding of commander's pool Role in ``namespace`` and wait until the API server's authorizer
    refuses commander there (it learns RBAC changes a moment after the write)."""
    admin.delete(RoleBinding, pool.commander_role_name(CONFIG), namespace=namespace)
    cluster_support.wait_for(
        lambda: not preflight.access_allowed(commander, "list", "secrets", "", "", namespace),
        timeout=120,
        what="commander refused in the namespace",
    )


def grant_guide_role(client: lightkube.Client, namespace: str, extra: tuple[rbac.PolicyRule, ...] = ()) -> None:
    """The namespace-pool guide's hand-written Role (plus ``extra`` rules an admin added), in effect."""
    admin_apply(client, [guide_roles.role(namespace, extra), guide_roles.role_binding(namespace)])
    await_access(client, namespace, verb="list", resource="secrets")
    for rule in extra:
        kind, _, sub = rule.resources[0].partition("/")
        await_access(
            client, namespace, verb=rule.verbs[0], resource=kind, group=rule.api_groups[0], subresource=sub or None
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
    first = rules[0]
    await_access(client, None, verb=first.verbs[0], resource=first.resources[0], group=first.api_groups[0])
    try:
        yield name
    finally:
        with contextlib.suppress(ApiError):
            client.delete(ClusterRoleBinding, name)
        with contextlib.suppress(ApiError):
            client.delete(ClusterRole, name)


def wait_healthy(client: lightkube.Client, spec: Any, timeout: float = 90) -> status.StatusReport:
    deadline = time.monotonic() + timeout
    report = status.check(client, spec, read_health_endpoint=False)
    while report.status is not DeploymentStatus.HEALTHY:
        assert report.status is DeploymentStatus.DEPLOYING, report.message
        if time.monotonic() > deadline:
            raise AssertionError(f"not healthy after {timeout} s: {report.message}")
        time.sleep(0.3)
        report = status.check(client, spec, read_health_endpoint=False)
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
