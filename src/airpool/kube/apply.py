"""Admin-side server-side apply of the platform's objects (``airpool config apply``), with an honest summary.

Three phases keep a failure from leaving half a change: read what exists (one LIST per kind), a server-side dry
run of every object whose namespace already exists (a missing admin permission or a terminating namespace stops
everything before the first write), then the real apply of what the dry run showed would change or be created —
Namespaces first, the rest concurrently, because the API server is the bottleneck and kubectl applies one object
at a time. An object whose dry run returns exactly what is stored is unchanged; for the others, created or changed
comes from comparing resourceVersions (a server-side apply that changes nothing does not write).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx2
from lightkube import ApiError, Client, codecs
from lightkube.core import resource as lkr

from airpool.domain.errors import AirpoolError

Obj = dict[str, Any]
Key = tuple[str, str, str | None]
WORKERS = 8


class Outcome(StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    namespace: str | None
    outcome: Outcome
    #: For a changed object: the fields the apply changed (dotted paths, e.g. ``metadata.labels.team``).
    changes: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        where = f" -n {self.namespace}" if self.namespace else ""
        return f"{self.kind.lower()}/{self.name}{where}"

    def __str__(self) -> str:
        text = f"{self.ref} {self.outcome.value}"
        return text + (f" ({', '.join(self.changes)})" if self.changes else "")


#: Fields the API server maintains itself; they differ after any write and say nothing about the change.
_BOOKKEEPING = frozenset(
    {"resourceVersion", "managedFields", "generation", "uid", "creationTimestamp", "selfLink", "status"}
)


def changed_fields(before: Any, after: Any, *, path: str = "", limit: int = 5) -> tuple[str, ...]:
    """The dotted paths where ``after`` differs from ``before`` (at most ``limit``, then ``...``); pure."""
    found: list[str] = []

    def walk(old: Any, new: Any, where: str) -> None:
        if old == new:
            return
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            for key in sorted(set(old) | set(new), key=str):
                if key in _BOOKKEEPING:
                    continue
                walk(old.get(key), new.get(key), f"{where}.{key}" if where else str(key))
            return
        found.append(where or "(whole object)")

    walk(before, after, path)
    return tuple(found[:limit]) + (("...",) if len(found) > limit else ())


@dataclass
class Summary:
    results: list[Applied] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for item in self.results if item.outcome is outcome)


class ApplyError(AirpoolError):
    """The cluster refused an object; says which one and the API server's reason."""

    code = "APPLY_FAILED"


def _key(obj: Obj) -> Key:
    meta = obj["metadata"]
    return obj["kind"], meta["name"], meta.get("namespace")


def _describe(obj: Obj) -> str:
    kind, name, namespace = _key(obj)
    return f"{kind} {name}" + (f" in namespace {namespace}" if namespace else "")


def _resource(obj: Obj) -> Any:
    """The lightkube resource class (typed loosely: lightkube's generics do not fit a mixed list)."""
    return type(codecs.from_dict(obj))


def existing(client: Client, objects: Iterable[Obj], *, workers: int = WORKERS) -> dict[Key, Obj]:
    """The current state of each object that already exists, from one LIST per kind (run concurrently)."""
    wanted: dict[Any, set[Key]] = {}
    for obj in objects:
        wanted.setdefault(_resource(obj), set()).add(_key(obj))

    def read(res: Any) -> list[tuple[Key, Obj]]:
        namespaced = issubclass(res, lkr.NamespacedResource)
        items: list[Any] = list(client.list(res, namespace="*" if namespaced else None))
        kind = res._api_info.resource.kind
        found = [(kind, item.metadata.name, item.metadata.namespace if namespaced else None) for item in items]
        return [(key, item.to_dict()) for key, item in zip(found, items, strict=True) if key in wanted[res]]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pair for pairs in pool.map(read, list(wanted)) for pair in pairs)


def _apply_one(client: Client, obj: Obj, *, field_manager: str, dry_run: bool) -> Obj:
    try:
        result = client.apply(codecs.from_dict(obj), field_manager=field_manager, force=True, dry_run=dry_run)
    except ApiError as exc:
        verb = "would refuse" if dry_run else "refused"
        raise ApplyError(f"the API server {verb} {_describe(obj)}: {exc.status.message}") from None
    as_dict: Obj = result.to_dict()  # type: ignore[no-untyped-call]
    return as_dict


def _version(obj: Obj) -> str | None:
    version = obj.get("metadata", {}).get("resourceVersion")
    return None if version is None else str(version)


def apply(
    client: Client,
    objects: Sequence[Obj],
    *,
    field_manager: str,
    on_applied: Callable[[Applied], None] | None = None,
    workers: int = WORKERS,
) -> Summary:
    """Apply ``objects`` (in their given order for the summary); raises ``ApplyError`` on the first refusal.

    An object whose dry run returns exactly what is stored is unchanged and is not applied again, so a repeated
    apply costs one request per object, like kubectl's.
    """
    try:
        before = existing(client, objects, workers=workers)
    except ApiError as exc:
        raise ApplyError(f"cannot read the cluster's current objects: {exc.status.message}") from None
    existing_namespaces = {name for kind, name, _ in before if kind == "Namespace"}
    outcomes: dict[Key, Applied] = {}

    def record(key: Key, outcome: Outcome, changes: tuple[str, ...] = ()) -> None:
        outcomes[key] = item = Applied(kind=key[0], name=key[1], namespace=key[2], outcome=outcome, changes=changes)
        if on_applied is not None:
            on_applied(item)

    def dry(obj: Obj) -> tuple[Key, bool]:
        key = _key(obj)
        result = _apply_one(client, obj, field_manager=field_manager, dry_run=True)
        return key, key in before and result == before[key]

    def real(obj: Obj) -> None:
        key = _key(obj)
        after = _apply_one(client, obj, field_manager=field_manager, dry_run=False)
        if key not in before:
            record(key, Outcome.CREATED)
        elif _version(before[key]) == _version(after):
            record(key, Outcome.UNCHANGED)
        else:
            record(key, Outcome.CHANGED, changed_fields(before[key], after))

    checkable = [
        obj
        for obj in objects
        if "namespace" not in obj["metadata"] or obj["metadata"]["namespace"] in existing_namespaces
    ]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Every check before the first write: a refusal here leaves the cluster untouched.
        same = {key for key, unchanged in pool.map(dry, checkable) if unchanged}
        for key in sorted(same, key=str):
            record(key, Outcome.UNCHANGED)
        todo = [obj for obj in objects if _key(obj) not in same]
        for phase in (
            [obj for obj in todo if obj["kind"] == "Namespace"],
            [obj for obj in todo if obj["kind"] != "Namespace"],
        ):
            list(pool.map(real, phase))
    return Summary(results=[outcomes[_key(obj)] for obj in objects])


def labelled_namespaces(client: Client, *, selector: Mapping[str, str]) -> list[str]:
    """Names of the Namespaces carrying every label in ``selector`` (the pool members airpool created)."""
    from lightkube.resources.core_v1 import Namespace

    found: Iterable[Any] = client.list(Namespace, labels=dict(selector))
    return sorted(str(item.metadata.name) for item in found)


@contextlib.contextmanager
def cluster_errors(server: str = "the API server") -> Iterator[None]:
    """Turn an unreachable or refusing cluster into one clear ``ApplyError`` instead of a traceback."""
    try:
        yield
    except httpx2.TransportError as exc:
        raise ApplyError(f"cannot reach {server}: {exc}") from None
    except ApiError as exc:
        raise ApplyError(f"the API server refused: {exc.status.message}") from None


def stale_cluster_rbac(client: Client, objects: Sequence[Obj], *, labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(kind, name)`` of the ClusterRoles and ClusterRoleBindings airpool created for this platform (they carry
    ``labels``) that ``objects`` no longer render: rights the configuration does not grant any more (e.g. the
    cluster-wide ones of a setup without a pool, after a pool was configured). Objects without the labels are
    somebody else's and never listed."""
    from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding

    wanted = {(obj["kind"], obj["metadata"]["name"]) for obj in objects}
    found: list[tuple[str, str]] = []
    selector: dict[str, Any] = dict(labels)
    for binding in client.list(ClusterRoleBinding, labels=selector):
        if binding.metadata and binding.metadata.name and ("ClusterRoleBinding", binding.metadata.name) not in wanted:
            found.append(("ClusterRoleBinding", binding.metadata.name))
    for role in client.list(ClusterRole, labels=selector):
        if role.metadata and role.metadata.name and ("ClusterRole", role.metadata.name) not in wanted:
            found.append(("ClusterRole", role.metadata.name))
    return found


def delete_cluster_rbac(client: Client, stale: Sequence[tuple[str, str]]) -> None:
    """Delete what ``stale_cluster_rbac`` found (bindings first, so no binding points at a missing role)."""
    from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding

    for kind, name in stale:
        try:
            if kind == "ClusterRoleBinding":
                client.delete(ClusterRoleBinding, name)
            else:
                client.delete(ClusterRole, name)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
