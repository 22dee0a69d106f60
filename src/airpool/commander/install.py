"""Install or upgrade one Airflow Deployment: read its secrets, preflight, then server-side apply every object.

Objects are applied in three waves (what pods need at admission: accounts, limits, secrets, Roles; then the
workloads and bindings; the ResourceQuota last so that its not-yet-computed status never rejects the first pods).
Inside a wave every object is independent, so a thread pool sends them concurrently; a re-run re-applies the same
bytes and converges (server-side apply with ``force`` takes back any field someone else changed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lightkube import ApiError, Client
from lightkube.types import CascadeType, PatchType

from airpool.commander import database, errors, kinds, preflight, secretstore
from airpool.kube.client import COMMANDER_FIELD_MANAGER
from airpool.manifests import pool
from airpool.manifests.airflow import common, render
from airpool.manifests.airflow.spec import AirflowSpec

log = logging.getLogger(__name__)

Obj = dict[str, Any]

_FIRST_WAVE = frozenset(
    {
        "LimitRange",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "ServiceAccount",
        "Secret",
        "ConfigMap",
        "Role",
        "Service",
        "NetworkPolicy",
    }
)
_LAST_WAVE = frozenset({"ResourceQuota"})
DEFAULT_PARALLELISM = 16


@dataclass(frozen=True)
class InstallResult:
    applied: int
    seconds: float


def waves(objects: Sequence[Obj]) -> list[list[Obj]]:
    first = [o for o in objects if o["kind"] in _FIRST_WAVE]
    last = [o for o in objects if o["kind"] in _LAST_WAVE]
    middle = [o for o in objects if o["kind"] not in _FIRST_WAVE | _LAST_WAVE]
    return [wave for wave in (first, middle, last) if wave]


def _patch(client: Client, obj: Obj) -> None:
    kind = kinds.kind_of(obj)
    meta = obj["metadata"]
    client.patch(
        kind.resource,
        meta["name"],
        obj,
        namespace=meta.get("namespace"),
        patch_type=PatchType.APPLY,
        field_manager=COMMANDER_FIELD_MANAGER,
        force=True,
    )


def apply_object(client: Client, obj: Obj) -> None:
    """Server-side apply one object; a Job whose pod template changed (an upgrade) is replaced, since Kubernetes
    keeps a Job's template immutable."""
    try:
        _patch(client, obj)
    except ApiError as exc:
        if not (obj["kind"] == "Job" and exc.status.code == 422):
            raise
        kind = kinds.kind_of(obj)
        meta = obj["metadata"]
        client.delete(kind.resource, meta["name"], namespace=meta["namespace"], cascade=CascadeType.FOREGROUND)
        _wait_deleted(client, kind, meta["name"], meta["namespace"])
        _patch(client, obj)


def _wait_deleted(client: Client, kind: kinds.Kind, name: str, namespace: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.get(kind.resource, name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return
            raise
        time.sleep(0.2)
    raise errors.TemporaryFailure(f"{kind.kind} {namespace}/{name} was not deleted within {timeout:.0f} s")


Fence = Callable[[], None]


def _no_fence() -> None:
    return None


def _fenced_apply(client: Client, obj: Obj, fence: Fence) -> None:
    fence()  # right before the write: a paused worker that lost its lease meanwhile stops here
    apply_object(client, obj)


def apply_all(
    client: Client, objects: Sequence[Obj], *, parallelism: int = DEFAULT_PARALLELISM, fence: Fence = _no_fence
) -> None:
    """Apply ``objects`` wave by wave; the first failure stops the run (later waves are not started).
    ``fence`` is called before each wave and each write; it raises ``errors.Fenced`` once the worker's lease
    has passed."""
    kinds.warm_up_decoders()
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        for wave in waves(objects):
            fence()
            futures = [pool.submit(_fenced_apply, client, obj, fence) for obj in wave]
            failures = [f.exception() for f in futures if f.exception() is not None]
            if failures:
                first = failures[0]
                assert first is not None
                raise errors.translate(first) from first


def _prunable(cluster_scoped: bool) -> list[kinds.Kind]:
    return [k for k in kinds.MANAGED_KINDS if k not in kinds.CONTROLLER_MADE and (k.namespaced or cluster_scoped)]


def prune(
    client: Client,
    spec: AirflowSpec,
    objects: Sequence[Obj],
    *,
    cluster_scoped: bool = False,
    fence: Fence = _no_fence,
) -> list[str]:
    """Delete what carries the Deployment's label but is no longer rendered (an upgrade from Airflow 2 leaves a
    webserver behind otherwise). Objects owned by another object (the CronJob's Jobs) are their owner's
    business. Returns ``Kind name`` of what was deleted."""
    wanted = {(o["kind"], o["metadata"]["name"]) for o in objects}

    def stale(kind: kinds.Kind) -> list[tuple[kinds.Kind, str]]:
        ns = spec.namespace if kind.namespaced else None
        found = client.list(kind.resource, namespace=ns, labels=kinds.owned_by(spec.deployment_id))
        return [
            (kind, o.metadata.name)
            for o in found
            if (kind.kind, o.metadata.name) not in wanted and not o.metadata.ownerReferences
        ]

    def delete(item: tuple[kinds.Kind, str]) -> None:
        kind, name = item
        fence()
        try:
            client.delete(
                kind.resource,
                name,
                namespace=spec.namespace if kind.namespaced else None,
                cascade=CascadeType.BACKGROUND,
            )
        except ApiError as exc:
            if exc.status.code != 404:
                raise

    try:
        with ThreadPoolExecutor(max_workers=8) as pool_:
            found = [item for items in pool_.map(stale, _prunable(cluster_scoped)) for item in items]
            list(pool_.map(delete, found))
    except ApiError as exc:
        raise errors.from_api_error(exc) from exc
    return [f"{kind.kind} {name}" for kind, name in found]


#: On a namespace commander created: the Deployment it was created for. Only such a namespace is commander's.
OWNER_LABEL = "airpool.io/owner-deployment"


def owns_namespace(namespace: Any, deployment_id: str) -> bool:
    """Whether commander created ``namespace`` (a lightkube Namespace) for ``deployment_id``."""
    labels = (namespace.metadata.labels if namespace is not None and namespace.metadata else None) or {}
    return labels.get(OWNER_LABEL) == deployment_id and labels.get(common.MANAGED_BY) == common.MANAGED_BY_VALUE


def refuse_foreign_namespace(client: Client, spec: AirflowSpec) -> None:
    """``NamespaceNotOurs`` when the namespace exists and commander did not create it for this Deployment."""
    from lightkube.resources.core_v1 import Namespace

    try:
        found = client.get(Namespace, spec.namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return
        raise errors.from_api_error(exc) from exc
    if not owns_namespace(found, spec.deployment_id):
        raise errors.NamespaceNotOurs(spec.namespace, spec.deployment_id)


def ensure_own_namespace(client: Client, spec: AirflowSpec, labels: Sequence[tuple[str, str]]) -> None:
    """Without a pool: create the namespace, or find the one commander created for this Deployment before.

    A namespace that exists without commander's owner label for this Deployment (another team's, a pool's, one
    an admin made) is refused with ``NamespaceNotOurs`` before any change: it is never adopted or relabelled
    (``refuse_foreign_namespace`` checks the same before commander's first request in the namespace)."""
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import Namespace

    wanted = namespace_object(spec, labels)
    try:
        try:
            found = client.get(Namespace, spec.namespace)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            try:
                client.create(
                    Namespace(metadata=ObjectMeta(name=spec.namespace, labels=wanted["metadata"]["labels"])),
                    field_manager=COMMANDER_FIELD_MANAGER,
                )
                return
            except ApiError as again:
                if again.status.code != 409:  # created meanwhile: judge the one that exists
                    raise
                found = client.get(Namespace, spec.namespace)
        if not owns_namespace(found, spec.deployment_id):
            raise errors.NamespaceNotOurs(spec.namespace, spec.deployment_id)
        apply_object(client, wanted)  # ours: keep its labels current (namespaceLabels may have changed)
    except ApiError as exc:
        raise errors.from_api_error(exc) from exc


def namespace_object(spec: AirflowSpec, labels: Sequence[tuple[str, str]]) -> Obj:
    """Without a pool commander owns the namespace; it carries the platform labels, not the Deployment's (so
    that deleting the Deployment's objects by label never selects the namespace itself)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": spec.namespace,
            "labels": {
                **dict(labels),
                common.MANAGED_BY: common.MANAGED_BY_VALUE,
                pool.PLATFORM_RELEASE_LABEL: spec.platform_release,
                OWNER_LABEL: spec.deployment_id,
            },
        },
    }


def install(
    client: Client,
    spec: AirflowSpec,
    *,
    manage_namespace: bool = False,
    namespace_labels: Sequence[tuple[str, str]] = (),
    pool_enabled: bool = True,
    cluster_roles: bool = True,
    database_admin_url: str | None = None,
    cluster_scoped: bool = False,
    parallelism: int = DEFAULT_PARALLELISM,
    fence: Fence = _no_fence,
) -> InstallResult:
    """Install or upgrade; raises ``PermissionsMissing`` / ``ClusterRefused`` (permanent, nothing changed when
    raised before the first apply) or ``TemporaryFailure`` (retry). ``cluster_scoped``: also prune the
    Deployment's cluster-scoped objects (commander holds cluster rights for PersistentVolumes). ``fence``: see
    ``apply_all``; also called before the secrets and the namespace are written."""
    started = time.monotonic()
    where = {"deployment": spec.deployment_id, "namespace": spec.namespace}
    log.info("install started", extra={"kv": where})
    fence()
    if manage_namespace:
        refuse_foreign_namespace(client, spec)  # before commander's first request in it
    secrets = secretstore.load_or_generate(client, spec)
    preflight.check(
        client, spec, manage_namespace=manage_namespace, pool_enabled=pool_enabled, cluster_roles=cluster_roles
    )
    if database_admin_url is not None and spec.external_database is not None:
        database.ensure(database_admin_url, spec.external_database, password=secrets.db_password)
    objects = render.render(spec, secrets)
    fence()
    if manage_namespace:
        ensure_own_namespace(client, spec, namespace_labels)
    apply_all(client, objects, parallelism=parallelism, fence=fence)
    pruned = prune(client, spec, objects, cluster_scoped=cluster_scoped, fence=fence)
    if pruned:
        log.info("pruned objects no longer rendered", extra={"kv": {**where, "objects": ", ".join(pruned)}})
    applied = len(objects) + int(manage_namespace)
    took = time.monotonic() - started
    log.info("install applied", extra={"kv": {**where, "objects": applied, "seconds": round(took, 3)}})
    return InstallResult(applied=applied, seconds=took)
