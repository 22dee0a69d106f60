"""Remove one Deployment: exactly the objects labelled with its id, then wait until none is left.

Deletion lists every kind at once and deletes each kind's objects as soon as its list is in, by name rather than
deletecollection (which the guide's hand-written Role does not grant for most kinds, and which the API server
carries out one object after the other). The workloads go first, so the garbage collector starts on their pods
(ReplicaSet, then pod: two hops) while the rest is deleted, then Services, whose deletes take the API server
longest (it releases the cluster IP). Pods and ReplicaSets a controller made go with their owner through the
garbage collector (deleting them first would only make a controller that still exists create new ones); whatever
remains after ``SWEEP_AGAIN_AFTER`` seconds is deleted directly. The pool's own Role/RoleBinding and anything else
without the Deployment's label are never selected.

Most objects are gone when their delete returns (background propagation removes the object at once). So while it
waits, commander looks only at what may still be there: what it left to the garbage collector or found terminating,
what a finalizer holds, and what a controller still present can make (Jobs, ReplicaSets, pods); then again only at
the kinds that still held something. It is done only when one look at every kind finds nothing. That last look
also reports objects of any other Deployment in the namespace (``UninstallResult.others``), so the check
before a pool namespace is offered again does not list everything a second time.
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
#: Requests a sweep has in flight at once.
SWEEP_THREADS = 16


@dataclass(frozen=True)
class UninstallResult:
    deleted: int
    seconds: float
    #: ``Kind name`` of the data objects a soft delete kept (``keep_data``).
    kept: tuple[str, ...] = ()
    #: ``Kind name (Deployment id)`` of objects of OTHER Deployments the last look found in the namespace (a worker
    #: that lost its lease may have written there): the namespace must not be offered while they are there.
    others: tuple[str, ...] = ()


def _owned(
    client: Client, kind: kinds.Kind, namespace: str, deployment_id: str, *, keep_data: bool = False
) -> list[Any]:
    return _look_at(client, kind, namespace, deployment_id, keep_data=keep_data)[0]


def _look_at(
    client: Client,
    kind: kinds.Kind,
    namespace: str,
    deployment_id: str,
    *,
    keep_data: bool = False,
    others_too: bool = False,
) -> tuple[list[Any], list[str]]:
    """The Deployment's objects of ``kind`` (``keep_data``: except the data a soft delete keeps) and, with
    ``others_too`` (namespaced kinds only), ``Kind name (Deployment id)`` of every other Deployment's objects."""
    namespaced = kind.namespaced
    wide = others_too and namespaced
    selector = kinds.any_deployment() if wide else kinds.owned_by(deployment_id)
    ours: list[Any] = []
    others: list[str] = []
    for obj in client.list(kind.resource, namespace=namespace if namespaced else None, labels=selector):
        owner = (obj.metadata.labels or {}).get(common.DEPLOYMENT_LABEL)
        if owner != deployment_id:
            others.append(f"{kind.kind} {obj.metadata.name} (Deployment {owner})")
        elif not (keep_data and _is_data(obj)):
            ours.append(obj)
    return ours, others


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


@dataclass(frozen=True)
class _Look:
    #: The Deployment's objects still present, per kind looked at (terminating ones included).
    ours: dict[kinds.Kind, list[Any]]
    others: tuple[str, ...] = ()

    @property
    def left(self) -> list[str]:
        return [f"{k.kind} {o.metadata.name}" for k, objs in self.ours.items() for o in objs]


def _look(
    client: Client,
    wanted: tuple[kinds.Kind, ...],
    namespace: str,
    deployment_id: str,
    *,
    keep_data: bool = False,
    others_too: bool = False,
) -> _Look:
    kinds.warm_up_decoders()
    with ThreadPoolExecutor(max_workers=min(len(wanted), 16)) as pool:
        found = list(
            pool.map(
                lambda k: _look_at(client, k, namespace, deployment_id, keep_data=keep_data, others_too=others_too),
                wanted,
            )
        )
    return _Look(
        ours={k: ours for k, (ours, _) in zip(wanted, found, strict=True)},
        others=tuple(item for _, others in found for item in others),
    )


def remaining(
    client: Client, namespace: str, deployment_id: str, *, cluster_scoped: bool = False, keep_data: bool = False
) -> list[str]:
    """``Kind name`` of every object of the Deployment still present (terminating ones included); ``keep_data``:
    except the data objects a soft delete keeps."""
    return _look(client, _kinds(cluster_scoped), namespace, deployment_id, keep_data=keep_data).left


#: Kinds whose objects make others while they exist (CronJob: Jobs; Deployment: ReplicaSets; StatefulSet,
#: ReplicaSet, Job: pods), and the kinds they make. While any of the former is left, the latter are looked at too.
_MAKERS = frozenset(
    kinds.Kind(*k)
    for k in (
        ("batch/v1", "CronJob"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "ReplicaSet"),
        ("batch/v1", "Job"),
        ("v1", "Pod"),  # a scheduler pod still terminating may start a task pod
    )
)
_MADE = (kinds.Kind("batch/v1", "Job"), kinds.Kind("apps/v1", "ReplicaSet"), kinds.Kind("v1", "Pod"))

#: Deleted first (see the module docstring): workloads, then Services; the rest in ``MANAGED_KINDS`` order.
_FIRST = (*(k for k in kinds.MANAGED_KINDS if k in _MAKERS), kinds.Kind("v1", "Service"))


def _deletion_order(wanted: list[kinds.Kind]) -> list[kinds.Kind]:
    return sorted(wanted, key=lambda k: _FIRST.index(k) if k in _FIRST else len(_FIRST))


def _next_look(look: _Look, every: tuple[kinds.Kind, ...]) -> tuple[kinds.Kind, ...]:
    """What to look at next: the kinds that still held something, and what those that make objects can make."""
    held = {k for k, objs in look.ours.items() if objs}
    if held & _MAKERS:
        held.update(_MADE)
    return tuple(k for k in every if k in held)


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
    """Delete the Deployment's objects; returns how many deletes were sent. Every kind is listed at once, and each
    kind's objects are deleted as soon as its list is in, workloads first, then Services (see the module
    docstring). ``controller_made=False`` leaves controller-made pods to the garbage collector (the first sweep
    of an uninstall); later sweeps take whatever is still there."""
    return _sweep(
        client,
        namespace,
        deployment_id,
        cluster_scoped=cluster_scoped,
        keep_data=keep_data,
        fence=fence,
        controller_made=controller_made,
    )[0]


def _sweep(
    client: Client,
    namespace: str,
    deployment_id: str,
    *,
    cluster_scoped: bool,
    keep_data: bool,
    fence: Fence,
    controller_made: bool,
) -> tuple[int, frozenset[kinds.Kind]]:
    """``delete_objects``, and the kinds of which something may still be there once it returns: objects it did
    not delete (already terminating, or left to the garbage collector), objects a finalizer keeps until someone
    else lets them go, and what a controller among them can still make. Everything else it deleted is gone when
    its delete returns (background propagation removes the object at once)."""
    kinds.warm_up_decoders()
    wanted = _deletion_order(
        [k for k in _kinds(cluster_scoped) if "delete" in kinds.CONTROLLER_MADE.get(k, ("delete",))]
    )
    lingering: set[kinds.Kind] = set()
    with ThreadPoolExecutor(max_workers=SWEEP_THREADS) as pool:
        lists = [(k, pool.submit(_owned, client, k, namespace, deployment_id, keep_data=keep_data)) for k in wanted]
        sent = []
        # In deletion order: the first kinds' deletes are queued first, while the later lists are still running.
        for kind, listed in lists:
            where = namespace if kind.namespaced else None
            for obj in listed.result():
                if kind in _MAKERS:
                    lingering.update(_MADE)
                if obj.metadata.finalizers:
                    lingering.add(kind)
                if obj.metadata.deletionTimestamp or (not controller_made and _made_by_controller(kind, obj)):
                    lingering.add(kind)
                    continue
                sent.append(pool.submit(_delete, client, kind, obj.metadata.name, where, fence))
        for done in sent:
            done.result()
    return len(sent), frozenset(lingering)


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
        deleted, lingering = _sweep(
            client,
            namespace,
            deployment_id,
            cluster_scoped=cluster_scoped,
            keep_data=keep_data,
            fence=fence,
            controller_made=False,
        )
        swept = time.monotonic()
        every = _kinds(cluster_scoped)
        # First at what the sweep says may still be there; once that is gone, at every kind.
        wanted = tuple(k for k in every if k in lingering) or every
        while True:
            look = _look(client, wanted, namespace, deployment_id, keep_data=keep_data, others_too=wanted == every)
            left = look.left
            if not left and wanted == every:
                break  # one look at every kind found nothing of the Deployment
            now = time.monotonic()
            if now > deadline:
                raise errors.TemporaryFailure(
                    f"{len(left)} object(s) of Deployment {deployment_id} still present in {namespace} after "
                    f"{timeout:.0f} s: {', '.join(left[:10])}"
                )
            # Nothing left of what was looked at: confirm with every kind. Else look again at what held something:
            # the garbage collector removes the controllers' pods within a second or so, so look often at first.
            wanted = _next_look(look, every) or every
            if left:
                waited = now - swept
                time.sleep(0.025 if waited < 1 else 0.1 if waited < 3 else 0.25)
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
    return UninstallResult(deleted=deleted, seconds=took, kept=kept, others=look.others)
