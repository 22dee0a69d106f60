"""Admin-side server-side apply of the platform's objects (``airpool config apply``), with an honest summary.

Three phases keep a failure from leaving half a change: read what exists (one LIST per kind and name, not one GET
per object), a server-side dry run of every object whose namespace already exists (so a missing admin permission
or a terminating namespace stops everything before the first write), then the real apply — Namespaces first,
the rest concurrently, because the API server is the bottleneck and kubectl applies one object at a time.
Whether an object was created, changed or unchanged comes from comparing resourceVersions: a server-side apply
that changes nothing does not write, so its resourceVersion stays.
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

    def __str__(self) -> str:
        where = f" -n {self.namespace}" if self.namespace else ""
        return f"{self.kind.lower()}/{self.name}{where} {self.outcome.value}"


@dataclass
class Summary:
    results: list[Applied] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for item in self.results if item.outcome is outcome)


class ApplyError(AirpoolError):
    """The cluster refused an object; says which one and the API server's reason."""

    code = "APPLY_FAILED"


def _key(obj: Obj) -> tuple[str, str, str | None]:
    meta = obj["metadata"]
    return obj["kind"], meta["name"], meta.get("namespace")


def _describe(obj: Obj) -> str:
    kind, name, namespace = _key(obj)
    return f"{kind} {name}" + (f" in namespace {namespace}" if namespace else "")


def _resource(obj: Obj) -> Any:
    """The lightkube resource class (typed loosely: lightkube's generics do not fit a mixed list)."""
    return type(codecs.from_dict(obj))


def existing_versions(client: Client, objects: Iterable[Obj]) -> dict[tuple[str, str, str | None], str]:
    """resourceVersion of each object that already exists, keyed like the objects, in few requests."""
    wanted: dict[tuple[Any, str], set[tuple[str, str, str | None]]] = {}
    for obj in objects:
        wanted.setdefault((_resource(obj), obj["metadata"]["name"]), set()).add(_key(obj))
    found: dict[tuple[str, str, str | None], str] = {}
    for (res, name), keys in wanted.items():
        namespaced = issubclass(res, lkr.NamespacedResource)
        items: Iterable[Any] = client.list(res, namespace="*" if namespaced else None, fields={"metadata.name": name})
        for item in items:
            meta = item.metadata
            key = (res._api_info.resource.kind, meta.name, meta.namespace if namespaced else None)
            if key in keys:
                found[key] = meta.resourceVersion
    return found


def _apply_one(client: Client, obj: Obj, *, field_manager: str, dry_run: bool) -> str:
    try:
        result = client.apply(codecs.from_dict(obj), field_manager=field_manager, force=True, dry_run=dry_run)
    except ApiError as exc:
        verb = "would refuse" if dry_run else "refused"
        raise ApplyError(f"the API server {verb} {_describe(obj)}: {exc.status.message}") from None
    meta: Any = result.metadata
    return str(meta.resourceVersion)


def apply(
    client: Client,
    objects: Sequence[Obj],
    *,
    field_manager: str,
    on_applied: Callable[[Applied], None] | None = None,
    workers: int = WORKERS,
) -> Summary:
    """Apply ``objects`` (in their given order for the summary); raises ``ApplyError`` on the first refusal."""
    try:
        before = existing_versions(client, objects)
    except ApiError as exc:
        raise ApplyError(f"cannot read the cluster's current objects: {exc.status.message}") from None
    existing_namespaces = {name for kind, name, _ in before if kind == "Namespace"}
    checkable = [
        obj
        for obj in objects
        if obj["kind"] == "Namespace"
        or obj["metadata"].get("namespace") in existing_namespaces
        or "namespace" not in obj["metadata"]
    ]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda obj: _apply_one(client, obj, field_manager=field_manager, dry_run=True), checkable))

        outcomes: dict[tuple[str, str, str | None], Outcome] = {}

        def real(obj: Obj) -> None:
            key = _key(obj)
            version = _apply_one(client, obj, field_manager=field_manager, dry_run=False)
            if key not in before:
                outcome = Outcome.CREATED
            else:
                outcome = Outcome.UNCHANGED if before[key] == version else Outcome.CHANGED
            outcomes[key] = outcome
            if on_applied is not None:
                on_applied(Applied(kind=key[0], name=key[1], namespace=key[2], outcome=outcome))

        namespaces = [obj for obj in objects if obj["kind"] == "Namespace"]
        rest = [obj for obj in objects if obj["kind"] != "Namespace"]
        for phase in (namespaces, rest):
            list(pool.map(real, phase))
    summary = Summary()
    for obj in objects:
        kind, name, namespace = _key(obj)
        summary.results.append(Applied(kind=kind, name=name, namespace=namespace, outcome=outcomes[_key(obj)]))
    return summary


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
