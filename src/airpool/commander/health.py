"""Is a pool namespace fit to be offered? It must exist, not be terminating, let commander do everything a
Deployment needs, and hold nothing of a former Deployment.

The answer carries a reason a human can act on; the services record it and move the namespace between
``available`` and ``misconfigured``. Checks run cheapest first and stop at the first failure.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lightkube import ApiError, Client
from lightkube.resources.core_v1 import Namespace

from airpool.commander import errors, kinds, preflight
from airpool.manifests.airflow import common


@dataclass(frozen=True)
class PoolHealth:
    namespace: str
    ok: bool
    reason: str | None = None


def _leftovers(client: Client, namespace: str) -> list[str]:
    def owned(kind: kinds.Kind) -> list[str]:
        found = client.list(kind.resource, namespace=namespace, labels=kinds.any_deployment())
        return [
            f"{kind.kind} {o.metadata.name} (Deployment {o.metadata.labels[common.DEPLOYMENT_LABEL]})" for o in found
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [item for items in pool.map(owned, kinds.NAMESPACED_KINDS) for item in items]


def _namespace_problem(client: Client, namespace: str) -> str | None:
    try:
        ns: Any = client.get(Namespace, namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return f"namespace {namespace} does not exist in the cluster"
        if exc.status.code == 403:
            # A namespaced Role dies with its namespace, so a deleted or terminating pool namespace looks like
            # this to commander too: say all three possibilities.
            return (
                f"commander cannot read namespace {namespace} (deleted, being deleted, or its Role/RoleBinding "
                f"for commander removed): {exc.status.message}"
            )
        raise
    if ns.metadata.deletionTimestamp is not None or (ns.status and ns.status.phase == "Terminating"):
        return f"namespace {namespace} is being deleted (Terminating)"
    return None


def check(client: Client, namespace: str, *, needs: preflight.Needs | None = None) -> PoolHealth:
    """``needs`` defaults to what any executor's Deployment needs in a pool namespace."""
    kinds.warm_up_decoders()
    try:
        problem = _namespace_problem(client, namespace)
        if problem:
            return PoolHealth(namespace, False, problem)
        lacking = preflight.missing(client, namespace, needs or preflight.pool_namespace_needs())
        if lacking:
            shown = "; ".join(lacking[:8]) + (f"; and {len(lacking) - 8} more" if len(lacking) > 8 else "")
            return PoolHealth(namespace, False, f"commander lacks {len(lacking)} permission(s) here: {shown}")
        left = _leftovers(client, namespace)
    except ApiError as exc:
        raise errors.from_api_error(exc) from exc
    if left:
        shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        return PoolHealth(namespace, False, f"{len(left)} object(s) of a former Deployment remain: {shown}")
    return PoolHealth(namespace, True)
