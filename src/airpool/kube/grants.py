"""What RBAC grants a service account in a namespace, read with an admin's credentials.

``config validate --kubeconfig`` uses it to judge a pool someone else set up (the seed's manual Option 2 Roles):
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
class NamespaceGrants:
    namespace: str
    exists: bool
    #: Human-readable names of the roles that grant the rules (``Role x``, ``ClusterRole y (cluster-wide)``).
    roles: tuple[str, ...]
    rules: tuple[PolicyRule, ...]


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


def cluster_wide(
    client: Client, *, account: str, account_namespace: str
) -> tuple[tuple[str, ...], tuple[PolicyRule, ...]]:
    """Roles and rules bound to the account through ClusterRoleBindings (valid in every namespace)."""
    names: list[str] = []
    rules: list[PolicyRule] = []
    for binding in client.list(ClusterRoleBinding):
        if not _binds(binding.subjects, account=account, account_namespace=account_namespace):
            continue
        found = _cluster_role_rules(client, binding.roleRef.name)
        if found is not None:
            names.append(f"ClusterRole {binding.roleRef.name} (cluster-wide)")
            rules.extend(found)
    return tuple(names), tuple(rules)


def in_namespace(
    client: Client,
    namespace: str,
    *,
    account: str,
    account_namespace: str,
    cluster: tuple[tuple[str, ...], tuple[PolicyRule, ...]] = ((), ()),
) -> NamespaceGrants:
    """The rules ``account`` holds in ``namespace``; ``cluster`` is ``cluster_wide``'s answer, read once."""
    try:
        client.get(Namespace, namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return NamespaceGrants(namespace=namespace, exists=False, roles=(), rules=())
        raise
    names = list(cluster[0])
    rules = list(cluster[1])
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
            names.append(label)
            rules.extend(found)
    return NamespaceGrants(namespace=namespace, exists=True, roles=tuple(names), rules=tuple(rules))
