"""Remove one Deployment: exactly the objects labelled with its id, then wait until none is left.

Deletion lists every kind at once, then deletes every object at once, in ``kinds.MANAGED_KINDS`` order (workloads
first), by name rather than deletecollection, which the guide's hand-written Role does not grant for most kinds.
Pods and ReplicaSets a controller made go with their owner through the garbage collector (deleting them first
would only make a controller that still exists create new ones); whatever remains after ``SWEEP_AGAIN_AFTER``
seconds is deleted directly. The pool's own Role/RoleBinding and anything else without the Deployment's label are
never selected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lightkube import ApiError, Client
from lightkube.resources.core_v1 import Namespace
from lightkube.types import CascadeType

from airpool.commander import database, errors, kinds
from airpool.manifests.airflow import common
from airpool.manifests.airflow.spec import ExternalDatabase

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 120.0
#: After this many seconds of waiting, objects still present are deleted again (controller-made ones included).
SWEEP_AGAIN_AFTER = 2.0


@dataclass(frozen=True)
class UninstallResult:
    deleted: int
    seconds: float
    #: ``Kind name`` of the data objects a soft delete kept (``keep_data``).
    kept: tuple[str, ...] = ()


def _owned(
    client: Client, kind: kinds.Kind, namespace: str, deployment_id: str, *, keep_data: bool = False
) -> list[Any]:
    ns = namespace if kind.namespaced else None
    found = list(client.list(kind.resource, namespace=ns, labels=kinds.owned_by(deployment_id)))
    if keep_data:
        found = [o for o in found if not _is_data(o)]
    return found


def _is_data(obj: Any) -> bool:
    return (obj.metadata.labels or {}).get(common.KEEP_ON_SOFT_DELETE_LABEL) == "true"


def kept_data(client: Client, namespace: str, deployment_id: str) -> list[str]:
    """``Kind name`` of the Deployment's data objects (what a soft delete keeps) still present."""
    kind = kinds.Kind("v1", "PersistentVolumeClaim")
    return [f"{kind.kind} {o.metadata.name}" for o in _owned(client, kind, namespace, deployment_id) if _is_data(o)]


def _kinds(cluster_scoped: bool) -> tuple[kinds.Kind, ...]:
    """Cluster-scoped kinds (the NFS PersistentVolume) only when the Deployment had them: in a pool, commander
    usually may not even list them."""
    return kinds.MANAGED_KINDS if cluster_scoped else kinds.NAMESPACED_KINDS


def remaining(
    client: Client, namespace: str, deployment_id: str, *, cluster_scoped: bool = False, keep_data: bool = False
) -> list[str]:
    """``Kind name`` of every object of the Deployment still present (terminating ones included); ``keep_data``:
    except the data objects a soft delete keeps."""
    kinds.warm_up_decoders()
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = pool.map(
            lambda k: (k, _owned(client, k, namespace, deployment_id, keep_data=keep_data)), _kinds(cluster_scoped)
        )
        return [f"{k.kind} {o.metadata.name}" for k, objs in found for o in objs]


Fence = Callable[[], None]


def _no_fence() -> None:
    return None


def _delete(client: Client, kind: kinds.Kind, name: str, namespace: str | None, fence: Fence = _no_fence) -> None:
    fence()
    try:
        client.delete(kind.resource, name, namespace=namespace, cascade=CascadeType.BACKGROUND)
    except ApiError as exc:
        if exc.status.code != 404:  # already gone: a retried job or the garbage collector was faster
            raise


def _made_by_controller(kind: kinds.Kind, obj: Any) -> bool:
    """A pod or ReplicaSet whose controller (a Deployment, StatefulSet, Job, ReplicaSet) is among what is deleted:
    the garbage collector removes it with its owner. Deleting it ourselves first would only make a controller
    that is still there create a new one."""
    return kind in kinds.CONTROLLER_MADE and any(ref.controller for ref in obj.metadata.ownerReferences or ())


def delete_objects(
    client: Client,
    namespace: str,
    deployment_id: str,
    *,
    cluster_scoped: bool = False,
    keep_data: bool = False,
    fence: Fence = _no_fence,
    controller_made: bool = True,
) -> int:
    """Delete the Deployment's objects; returns how many deletes were sent. Every kind is listed at once, then
    every object deleted at once (in ``MANAGED_KINDS`` order, workloads first): two rounds of parallel requests
    instead of one list and one delete round per kind. ``controller_made=False`` leaves controller-made pods to
    the garbage collector (the first sweep of an uninstall); later sweeps take whatever is still there."""
    kinds.warm_up_decoders()
    wanted = [k for k in _kinds(cluster_scoped) if "delete" in kinds.CONTROLLER_MADE.get(k, ("delete",))]
    with ThreadPoolExecutor(max_workers=16) as pool:
        listed = list(pool.map(lambda k: (k, _owned(client, k, namespace, deployment_id, keep_data=keep_data)), wanted))
        targets = [
            (kind, obj)
            for kind, objs in listed
            for obj in objs
            if not obj.metadata.deletionTimestamp and (controller_made or not _made_by_controller(kind, obj))
        ]
        list(
            pool.map(
                lambda t: _delete(client, t[0], t[1].metadata.name, namespace if t[0].namespaced else None, fence),
                targets,
            )
        )
    return len(targets)


def namespace_gone(client: Client, namespace: str) -> bool:
    """True once the Namespace object no longer exists (404); a Terminating namespace still exists."""
    try:
        client.get(Namespace, namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return True
        raise
    return False


def _ours(client: Client, namespace: str, deployment_id: str) -> bool:
    """Only a namespace commander created for this Deployment is deleted with it (see ``install.owns_namespace``);
    any other is left as it is, with whatever else is in it."""
    from airpool.commander.install import owns_namespace

    try:
        found = client.get(Namespace, namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    if owns_namespace(found, deployment_id):
        return True
    log.info(
        "namespace kept: commander did not create it for this Deployment",
        extra={"kv": {"deployment": deployment_id, "namespace": namespace}},
    )
    return False


def uninstall(
    client: Client,
    *,
    namespace: str,
    deployment_id: str,
    delete_namespace: bool = False,
    cluster_scoped: bool = False,
    drop_database: tuple[str, ExternalDatabase] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    keep_data: bool = False,
    fence: Fence = _no_fence,
) -> UninstallResult:
    """Delete and wait; ``delete_namespace`` (no pool) then removes the namespace too, if commander created it
    for this Deployment (never another one);
    ``cluster_scoped`` (NFS DAG deploys) also removes the Deployment's PersistentVolume; ``drop_database``
    (admin URL, database) drops the Deployment's own database and role once no pod can use them any more —
    only on FINAL removal (a soft delete keeps them until its retention ends). ``keep_data`` (a soft delete in a
    pool namespace): the Deployment's data objects (the in-namespace PostgreSQL's claim) stay until the purge.
    ``fence`` is called before each delete and raises ``errors.Fenced`` once the worker's lease has passed."""
    started = time.monotonic()
    deadline = started + timeout
    try:
        deleted = delete_objects(
            client,
            namespace,
            deployment_id,
            cluster_scoped=cluster_scoped,
            keep_data=keep_data,
            fence=fence,
            controller_made=False,
        )
        swept = time.monotonic()
        left = remaining(client, namespace, deployment_id, cluster_scoped=cluster_scoped, keep_data=keep_data)
        while left:
            now = time.monotonic()
            if now > deadline:
                raise errors.TemporaryFailure(
                    f"{len(left)} object(s) of Deployment {deployment_id} still present in {namespace} after "
                    f"{timeout:.0f} s: {', '.join(left[:10])}"
                )
            # The garbage collector removes the controllers' pods within a second or so: look often at first.
            time.sleep(0.1 if now - swept < 3 else 0.25)
            left = remaining(client, namespace, deployment_id, cluster_scoped=cluster_scoped, keep_data=keep_data)
            if left and time.monotonic() - swept > SWEEP_AGAIN_AFTER:
                # Whatever is still there (a pod a controller made after the first sweep, one the garbage collector
                # has not reached): delete it ourselves.
                deleted += delete_objects(
                    client, namespace, deployment_id, cluster_scoped=cluster_scoped, keep_data=keep_data, fence=fence
                )
        if delete_namespace and _ours(client, namespace, deployment_id):
            if not namespace_gone(client, namespace):
                fence()
                client.delete(Namespace, namespace)
            while not namespace_gone(client, namespace):
                if time.monotonic() > deadline:
                    raise errors.TemporaryFailure(f"namespace {namespace} still terminating after {timeout:.0f} s")
                time.sleep(0.25)
        kept = tuple(kept_data(client, namespace, deployment_id)) if keep_data else ()
    except ApiError as exc:
        raise errors.from_api_error(exc) from exc
    if drop_database is not None:
        fence()
        database.drop(*drop_database)
    took = time.monotonic() - started
    log.info(
        "uninstall done",
        extra={
            "kv": {"deployment": deployment_id, "namespace": namespace, "objects": deleted, "seconds": round(took, 3)}
        },
    )
    return UninstallResult(deleted=deleted, seconds=took, kept=kept)
