"""The cluster objects the platform itself needs for a configuration: pool namespaces, commander's identity and
its RBAC. ``config render`` prints them, ``config apply`` applies them; both get exactly this list.

Scope follows Astronomer's namespace-pool guide: with a pool, commander gets a Role per pool namespace and, at most,
a ClusterRole for persistentvolumes (NFS DAG deploys) — never cluster-wide rights on secrets, roles or service
accounts. Without a pool and with ``clusterRoles: true`` it gets one ClusterRole. With ``rbacEnabled: false`` the
admin owns RBAC and nothing RBAC is rendered. The order is fixed (namespaces, identity, cluster RBAC, per-namespace
RBAC) so that the output is byte-for-byte stable and every object's namespace exists before the object.
"""

from __future__ import annotations

from typing import Any

from airpool.config.model import PlatformConfig
from airpool.manifests import rbac

Obj = dict[str, Any]

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "airpool"
PLATFORM_RELEASE_LABEL = "airpool.io/platform-release"
#: Marks a namespace as a member of the pool (set on the Namespaces airpool creates).
POOL_LABEL = "airpool.io/pool"
RBAC_API = "rbac.authorization.k8s.io/v1"


def labels(config: PlatformConfig) -> dict[str, str]:
    return {MANAGED_BY: MANAGED_BY_VALUE, PLATFORM_RELEASE_LABEL: config.platform_release}


def _meta(config: PlatformConfig, name: str, namespace: str | None = None) -> Obj:
    meta: Obj = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = labels(config)
    return meta


def namespace(config: PlatformConfig, name: str, *, pool_member: bool) -> Obj:
    """A pool member carries the admin's labels and airpool's; the platform namespace only its name, because it
    may be shared with the Astronomer chart or other releases and its labels are theirs."""
    if not pool_member:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    meta = _meta(config, name)
    meta["labels"] = {**dict(config.namespace_labels), **meta["labels"], POOL_LABEL: config.platform_release}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(config: PlatformConfig) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(config, config.commander_service_account, config.platform_namespace),
    }


def _subjects(config: PlatformConfig) -> list[Obj]:
    return [
        {"kind": "ServiceAccount", "name": config.commander_service_account, "namespace": config.platform_namespace}
    ]


def role(config: PlatformConfig, name: str, namespace_name: str, rules: tuple[rbac.PolicyRule, ...]) -> Obj:
    return {
        "apiVersion": RBAC_API,
        "kind": "Role",
        "metadata": _meta(config, name, namespace_name),
        "rules": [rule.as_dict() for rule in rules],
    }


def role_binding(config: PlatformConfig, name: str, namespace_name: str) -> Obj:
    return {
        "apiVersion": RBAC_API,
        "kind": "RoleBinding",
        "metadata": _meta(config, name, namespace_name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": _subjects(config),
    }


def cluster_role(config: PlatformConfig, name: str, rules: tuple[rbac.PolicyRule, ...]) -> Obj:
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRole",
        "metadata": _meta(config, name),
        "rules": [rule.as_dict() for rule in rules],
    }


def cluster_role_binding(config: PlatformConfig, name: str) -> Obj:
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRoleBinding",
        "metadata": _meta(config, name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": _subjects(config),
    }


def commander_role_name(config: PlatformConfig) -> str:
    """Name of commander's Role in each pool namespace, and of its ClusterRole without a pool."""
    return f"{config.platform_release}-commander"


def cluster_rules(config: PlatformConfig) -> tuple[rbac.PolicyRule, ...]:
    """What commander's ClusterRole grants for this configuration (empty: no ClusterRole at all)."""
    if not config.rbac_enabled or not config.cluster_roles:
        return ()
    if config.pool is not None:
        return rbac.PERSISTENT_VOLUME_RULES if config.deployments.nfs_dag_deploys else ()
    rules = rbac.COMMANDER_NAMESPACE_RULES + rbac.NAMESPACE_LIFECYCLE_RULES
    if config.deployments.nfs_dag_deploys:
        rules += rbac.PERSISTENT_VOLUME_RULES
    return rules


def render(config: PlatformConfig) -> list[Obj]:
    """Every object, in apply order."""
    objects: list[Obj] = [namespace(config, config.platform_namespace, pool_member=False)]
    pool = config.pool
    if pool is not None and pool.create_namespaces:
        objects += [namespace(config, name, pool_member=True) for name in pool.names]
    objects.append(service_account(config))
    name = commander_role_name(config)
    rules = cluster_rules(config)
    if rules:
        objects += [cluster_role(config, name, rules), cluster_role_binding(config, name)]
    if pool is not None and pool.create_rbac and config.rbac_enabled:
        for member in pool.names:
            objects += [
                role(config, name, member, rbac.COMMANDER_NAMESPACE_RULES),
                role_binding(config, name, member),
            ]
    return objects
