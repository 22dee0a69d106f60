"""Commander's permissions, defined once: the rendered pool RBAC and commander's preflight both read them.

Why these rules: commander applies every object of an Airflow Deployment with server-side apply (get + patch,
create on first apply), watches them until ready, and deletes them by label selector (list + delete +
deletecollection). It also creates the Deployment's own Roles, and Kubernetes' escalation prevention refuses a
Role that grants anything its creator does not hold, so commander must hold every rule of those Roles too
(``pods`` create/patch, ``pods/exec``, ``pods/log``, ``events``). Cluster-scoped kinds (namespaces,
persistentvolumes) cannot be granted by a namespaced Role; they live in separate ClusterRole rule sets that a
pool installation uses only for NFS DAG deploys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CORE = ""
APPS = "apps"
BATCH = "batch"
NETWORKING = "networking.k8s.io"
RBAC = "rbac.authorization.k8s.io"
POLICY = "policy"

#: Everything server-side apply, status watching and label-selected deletion need on an object kind.
MANAGE = ("create", "get", "list", "watch", "patch", "update", "delete", "deletecollection")
READ = ("get", "list", "watch")


@dataclass(frozen=True)
class PolicyRule:
    """One RBAC rule; tuples keep it hashable and its rendering stable."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]

    def as_dict(self) -> dict[str, list[str]]:
        return {"apiGroups": list(self.api_groups), "resources": list(self.resources), "verbs": list(self.verbs)}

    @classmethod
    def from_dict(cls, rule: Mapping[str, Any]) -> PolicyRule | None:
        """A rule as Kubernetes returns it; None for rules that cannot grant general access (resourceNames,
        nonResourceURLs), which never satisfy a check for a whole kind."""
        if rule.get("resourceNames") or rule.get("nonResourceURLs") or not rule.get("resources"):
            return None
        return cls(
            api_groups=tuple(rule.get("apiGroups") or ()),
            resources=tuple(rule["resources"]),
            verbs=tuple(rule.get("verbs") or ()),
        )


@dataclass(frozen=True, order=True)
class AccessCheck:
    """One (verb, resource, subresource, group) question, as SelfSubjectAccessReview's resourceAttributes ask it."""

    verb: str
    resource: str
    subresource: str
    group: str

    def __str__(self) -> str:
        full = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {full} ({self.group or 'core'})"

    def resource_attributes(self, namespace: str | None) -> dict[str, str]:
        """The ``spec.resourceAttributes`` of a SelfSubjectAccessReview for this check."""
        attributes = {"verb": self.verb, "resource": self.resource, "group": self.group}
        if self.subresource:
            attributes["subresource"] = self.subresource
        if namespace is not None:
            attributes["namespace"] = namespace
        return attributes


def _rule(group: str, resources: Sequence[str], verbs: Sequence[str]) -> PolicyRule:
    return PolicyRule(api_groups=(group,), resources=tuple(resources), verbs=tuple(verbs))


#: What commander needs inside each namespace it works in (a pool namespace, or any namespace without a pool).
COMMANDER_NAMESPACE_RULES: tuple[PolicyRule, ...] = (
    _rule(
        CORE,
        (
            "configmaps",
            "limitranges",
            "persistentvolumeclaims",
            "resourcequotas",
            "secrets",
            "serviceaccounts",
            "services",
        ),
        MANAGE,
    ),
    # Pods are made by the workloads; commander reads them for status, deletes leftovers (task pods) on
    # release, and must hold create/patch because the pod-launcher Role it creates grants them.
    _rule(CORE, ("pods",), ("create", "get", "list", "watch", "patch", "delete", "deletecollection")),
    _rule(CORE, ("pods/log",), ("get", "list")),
    _rule(CORE, ("pods/exec",), ("create", "get")),
    # Airflow's own health endpoint, read through the API server's service proxy before "healthy" is reported.
    _rule(CORE, ("services/proxy",), ("get",)),
    _rule(CORE, ("events",), READ),
    # A namespaced binding can grant access to its own Namespace object: enough to verify it exists.
    _rule(CORE, ("namespaces",), ("get",)),
    _rule(APPS, ("deployments", "statefulsets"), MANAGE),
    _rule(APPS, ("replicasets",), READ),
    _rule(BATCH, ("cronjobs", "jobs"), MANAGE),
    _rule(NETWORKING, ("ingresses", "networkpolicies"), MANAGE),
    _rule(POLICY, ("poddisruptionbudgets",), MANAGE),
    _rule(RBAC, ("rolebindings", "roles"), MANAGE),
)

#: Cluster-scoped: only a ClusterRole grants these. Without a pool commander creates and deletes namespaces.
NAMESPACE_LIFECYCLE_RULES: tuple[PolicyRule, ...] = (
    _rule(CORE, ("namespaces",), ("create", "get", "list", "watch", "patch", "update", "delete")),
)

#: NFS DAG deploys need a PersistentVolume per Deployment, which no namespaced Role can grant.
PERSISTENT_VOLUME_RULES: tuple[PolicyRule, ...] = (_rule(CORE, ("persistentvolumes",), MANAGE),)


def expand(rules: Iterable[PolicyRule]) -> tuple[AccessCheck, ...]:
    """Every single check the rules stand for, sorted and without repeats (what a preflight asks the API)."""
    checks: set[AccessCheck] = set()
    for rule in rules:
        for group in rule.api_groups:
            for resource in rule.resources:
                kind, _, subresource = resource.partition("/")
                for verb in rule.verbs:
                    checks.add(AccessCheck(verb=verb, resource=kind, subresource=subresource, group=group))
    return tuple(sorted(checks))


def _resource_matches(pattern: str, check: AccessCheck) -> bool:
    if pattern == "*":
        return True
    kind, _, sub = pattern.partition("/")
    if sub:
        return bool(check.subresource) and kind in ("*", check.resource) and sub in ("*", check.subresource)
    return not check.subresource and kind == check.resource


def allows(rule: PolicyRule, check: AccessCheck) -> bool:
    """Whether one rule grants ``check``, with Kubernetes' wildcard rules (``*``, ``pods/*``, ``*/scale``)."""
    return (
        ("*" in rule.api_groups or check.group in rule.api_groups)
        and ("*" in rule.verbs or check.verb in rule.verbs)
        and any(_resource_matches(pattern, check) for pattern in rule.resources)
    )


def missing(needed: Iterable[AccessCheck], granted: Iterable[PolicyRule]) -> tuple[AccessCheck, ...]:
    """The checks no granted rule allows, in ``needed``'s order."""
    rules = tuple(granted)
    return tuple(check for check in needed if not any(allows(rule, check) for rule in rules))
