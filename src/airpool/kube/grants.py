"""What RBAC grants a service account in a namespace, read with an admin's credentials.

``config validate --kubeconfig`` uses it to judge a pool the admin set up (e.g. the guide's hand-written Roles):
it needs the rules themselves, not a yes/no per check, to show which of commander's permissions are missing.
Bindings count when their subject is the service account itself or a group every service account of its
namespace belongs to; ClusterRoleBindings apply in every namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lightkube import ApiError, Client
from lightkube.resources.core_v1 import Namespace
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding, Role, RoleBinding

from airpool.manifests.rbac import PolicyRule


@dataclass(frozen=True)
class RoleGrant:
    #: Human-readable: ``Role x``, ``ClusterRole y (cluster-wide)``, ``ClusterRole z (bound in the namespace)``.
    role: str
    rules: tuple[PolicyRule, ...]


@dataclass(frozen=True)
class NamespaceGrants:
    namespace: str
    exists: bool
    roles: tuple[RoleGrant, ...]

    @property
    def rules(self) -> tuple[PolicyRule, ...]:
        return tuple(rule for grant in self.roles for rule in grant.rules)


def _groups(namespace: str) -> set[str]:
    return {"system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"}


def _binds(subjects: Iterable[object] | None, *, account: str, account_namespace: str) -> bool:
    for subject in subjects or ():
        kind = getattr(subject, "kind", None)
        name = getattr(subject, "name", None)
        if kind == "ServiceAccount" and name == account and getattr(subject, "namespace", None) == account_namespace:
            return True
        if kind == "Group" and name in _groups(account_namespace):
            return True
    return False


def _rules(raw: Iterable[Any] | None) -> tuple[PolicyRule, ...]:
    out: list[PolicyRule] = []
    for rule in raw or ():
        parsed = PolicyRule.from_dict(rule.to_dict())
        if parsed is not None:
            out.append(parsed)
    return tuple(out)


def _cluster_role_rules(client: Client, name: str) -> tuple[PolicyRule, ...] | None:
    try:
        return _rules(client.get(ClusterRole, name).rules)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


def cluster_wide(client: Client, *, account: str, account_namespace: str) -> tuple[RoleGrant, ...]:
    """Roles bound to the account through ClusterRoleBindings (valid in every namespace)."""
    found: list[RoleGrant] = []
    for binding in client.list(ClusterRoleBinding):
        if not _binds(binding.subjects, account=account, account_namespace=account_namespace):
            continue
        rules = _cluster_role_rules(client, binding.roleRef.name)
        if rules is not None:
            found.append(RoleGrant(role=f"ClusterRole {binding.roleRef.name} (cluster-wide)", rules=rules))
    return tuple(found)


def in_namespace(
    client: Client,
    namespace: str,
    *,
    account: str,
    account_namespace: str,
    cluster: tuple[RoleGrant, ...] = (),
) -> NamespaceGrants:
    """The rules ``account`` holds in ``namespace``; ``cluster`` is ``cluster_wide``'s answer, read once."""
    try:
        client.get(Namespace, namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return NamespaceGrants(namespace=namespace, exists=False, roles=())
        raise
    grants = list(cluster)
    for binding in client.list(RoleBinding, namespace=namespace):
        if not _binds(binding.subjects, account=account, account_namespace=account_namespace):
            continue
        ref = binding.roleRef
        if ref.kind == "ClusterRole":
            found = _cluster_role_rules(client, ref.name)
            label = f"ClusterRole {ref.name} (bound in the namespace)"
        else:
            try:
                found = _rules(client.get(Role, ref.name, namespace=namespace).rules)
            except ApiError as exc:
                if exc.status.code != 404:
                    raise
                found = None
            label = f"Role {ref.name}"
        if found is not None:
            grants.append(RoleGrant(role=label, rules=found))
    return NamespaceGrants(namespace=namespace, exists=True, roles=tuple(grants))
