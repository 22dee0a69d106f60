"""Check, before changing anything, that commander holds every permission a job needs.

Namespaced permissions are read with ONE SelfSubjectRulesReview for the namespace (instead of a
SelfSubjectAccessReview per check: ~100 round trips); cluster-scoped ones (Namespaces without a pool,
PersistentVolumes for NFS DAGs) need SelfSubjectAccessReviews, because a namespaced rules review also lists
rules of namespaced Roles that name cluster-scoped kinds and therefore grant nothing. When the API server marks
the rules review incomplete (an authorizer that cannot enumerate), each apparently missing check is confirmed
with a SelfSubjectAccessReview before it is reported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lightkube import ApiError, Client
from lightkube.models.authorization_v1 import (
    ResourceAttributes,
    SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReviewSpec,
)
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview, SelfSubjectRulesReview

from airpool.commander import errors, kinds
from airpool.domain import dags
from airpool.domain.deployments import Executor
from airpool.manifests import rbac
from airpool.manifests.airflow import access, render
from airpool.manifests.airflow.spec import AirflowSecrets, AirflowSpec, DagSource

log = logging.getLogger(__name__)

#: Every applied kind: apply (create + patch), read back (get, list: status, secrets, leftovers), delete
#: (uninstall, and replacing an immutable Job on upgrade).
APPLIED_VERBS = ("create", "patch", "get", "list", "delete")
#: Without a pool commander creates (server-side apply) and finally deletes the Deployment's namespace.
NAMESPACE_VERBS = ("create", "patch", "get", "delete")

NFS_WITHOUT_CLUSTER_ROLES = dags.NFS_WITHOUT_CLUSTER_ROLES
#: Status reads Airflow's health endpoint through the service proxy (``commander.status``).
STATUS_CHECK = rbac.AccessCheck(verb="get", resource="services", subresource="proxy", group="")


@dataclass(frozen=True)
class Needs:
    """What one job needs: checks inside its namespace and cluster-wide checks."""

    namespaced: tuple[rbac.AccessCheck, ...]
    cluster: tuple[rbac.AccessCheck, ...]


def _kind_checks(kind: kinds.Kind, verbs: Iterable[str]) -> list[rbac.AccessCheck]:
    return [rbac.AccessCheck(verb=v, resource=kind.plural, subresource="", group=kind.group) for v in verbs]


def needs(spec: AirflowSpec, *, manage_namespace: bool) -> Needs:
    """Derived from the objects the spec renders (so a new object kind is checked automatically), plus every rule
    of the Roles commander grants (Kubernetes refuses a Role granting what its creator lacks)."""
    applied = {kinds.kind_of(o) for o in render.render(spec, _PLACEHOLDER_SECRETS)}
    namespaced: set[rbac.AccessCheck] = set()
    cluster: set[rbac.AccessCheck] = set()
    for kind in applied:
        (namespaced if kind.namespaced else cluster).update(_kind_checks(kind, APPLIED_VERBS))
    for kind, verbs in kinds.CONTROLLER_MADE.items():
        namespaced.update(_kind_checks(kind, verbs))
    for kind in kinds.NAMESPACED_KINDS:  # install prunes, and uninstall deletes, what is no longer rendered
        if kind not in kinds.CONTROLLER_MADE:
            namespaced.update(_kind_checks(kind, ("list", "delete")))
    namespaced.add(STATUS_CHECK)
    role_rules = (rbac.PolicyRule.from_dict(rule) for rules in access.ROLE_RULES.values() for rule in rules)
    namespaced.update(rbac.expand(r for r in role_rules if r is not None))
    if manage_namespace:
        cluster.update(_kind_checks(kinds.Kind("v1", "Namespace"), NAMESPACE_VERBS))
    return Needs(namespaced=tuple(sorted(namespaced)), cluster=tuple(sorted(cluster)))


_PLACEHOLDER_SECRETS = AirflowSecrets(
    fernet_key="-", webserver_secret_key="-", jwt_secret="-", db_password="-", redis_password="-", admin_password="-"
)


def pool_namespace_needs() -> Needs:
    """What a pool namespace must allow for ANY Deployment airpool may put there (every executor), so that a
    namespace offered to users can take whichever one they choose."""
    namespaced: set[rbac.AccessCheck] = set()
    for executor in Executor:
        spec = AirflowSpec(deployment_id="x", release_name="x", namespace="x", executor=executor)
        namespaced.update(needs(spec, manage_namespace=False).namespaced)
    return Needs(namespaced=tuple(sorted(namespaced)), cluster=())


def describe(check: rbac.AccessCheck, namespace: str | None) -> str:
    """``verb resource (apiGroup) in namespace`` — the form Astronomer's namespace-pool guide uses."""
    return f"{check} in namespace {namespace}" if namespace else f"{check} cluster-wide"


def _access_allowed(client: Client, check: rbac.AccessCheck, namespace: str | None) -> bool:
    attributes = check.resource_attributes(namespace)
    review = SelfSubjectAccessReview(
        spec=SelfSubjectAccessReviewSpec(
            resourceAttributes=ResourceAttributes(
                verb=attributes["verb"],
                resource=attributes["resource"],
                group=attributes["group"],
                subresource=attributes.get("subresource"),
                namespace=attributes.get("namespace"),
            )
        )
    )
    result = client.create(review)
    return bool(result.status and result.status.allowed)


def access_allowed(
    client: Client, verb: str, resource: str, subresource: str, group: str, namespace: str | None
) -> bool:
    """One fresh SelfSubjectAccessReview (``errors.classify`` asks it about a 403)."""
    check = rbac.AccessCheck(verb=verb, resource=resource, subresource=subresource, group=group)
    return _access_allowed(client, check, namespace)


def _granted_rules(client: Client, namespace: str) -> tuple[list[rbac.PolicyRule], bool]:
    review = client.create(SelfSubjectRulesReview(spec=SelfSubjectRulesReviewSpec(namespace=namespace)))
    status = review.status
    rules = []
    for rule in status.resourceRules if status else []:
        parsed = rbac.PolicyRule.from_dict(rule.to_dict())
        if parsed is not None:
            rules.append(parsed)
    return rules, bool(status and status.incomplete)


def missing(client: Client, namespace: str, wanted: Needs) -> list[str]:
    """Every needed permission commander lacks, described for a human; empty when all are held."""
    return missing_counted(client, namespace, wanted)[0]


def missing_counted(client: Client, namespace: str, wanted: Needs) -> tuple[list[str], int]:
    """``missing``, and how many API requests it took (one rules review, plus any access reviews)."""
    kinds.warm_up_decoders()
    try:
        granted, incomplete = _granted_rules(client, namespace)
        lacking = list(rbac.missing(wanted.namespaced, granted))
        to_confirm: list[tuple[rbac.AccessCheck, str | None]] = [(c, namespace) for c in lacking] if incomplete else []
        cluster: list[tuple[rbac.AccessCheck, str | None]] = [(c, None) for c in wanted.cluster]
        asked = to_confirm + cluster
        answers: list[bool] = []
        if asked:
            with ThreadPoolExecutor(max_workers=8) as pool:
                answers = list(pool.map(lambda item: _access_allowed(client, *item), asked))
    except ApiError as exc:
        raise errors.from_api_error(exc) from exc
    confirmed = dict(zip(asked, answers, strict=True))
    out = [describe(c, namespace) for c in lacking if not confirmed.get((c, namespace), False)]
    out += [describe(c, None) for c in wanted.cluster if not confirmed[(c, None)]]
    return out, 1 + len(asked)


def check(
    client: Client,
    spec: AirflowSpec,
    *,
    manage_namespace: bool,
    pool_enabled: bool,
    cluster_roles: bool,
) -> None:
    """Raise ``PermissionsMissing`` (or the NFS refusal) before anything is changed; return when all is held."""
    if spec.dags.source is DagSource.NFS and pool_enabled and not cluster_roles:
        raise errors.CommanderError(NFS_WITHOUT_CLUSTER_ROLES)
    lacking = missing(client, spec.namespace, needs(spec, manage_namespace=manage_namespace))
    if lacking:
        log.warning("preflight failed", extra={"kv": {"namespace": spec.namespace, "missing": len(lacking)}})
        raise errors.PermissionsMissing(spec.namespace, lacking)
