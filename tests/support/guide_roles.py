"""The hand-written Role of Astronomer's namespace-pool guide (``deployment-commander-role`` of its
``commander.yaml``, for when the admin creates the pool), rule by rule: for tests that prepare a pool namespace by
hand the way an admin following that guide would."""

from __future__ import annotations

from typing import Any

from airpool.manifests import rbac

ROLE_NAME = "deployment-commander-role"
BINDING_NAME = "deployment-commander-rolebinding"

#: (apiGroups, resources, verbs)
GUIDE_RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = tuple(
    (tuple(g), tuple(r), tuple(v.split()))
    for g, r, v in [
        (["*"], ["*"], "list watch"),
        ([""], ["configmaps"], "create delete get list patch update watch"),
        (["keda.k8s.io"], ["scaledobjects"], "get create delete"),
        ([""], ["secrets"], "create delete deletecollection get list patch update watch"),
        ([""], ["namespaces"], "get list patch update watch"),
        ([""], ["serviceaccounts"], "create delete get patch"),
        (["rbac.authorization.k8s.io"], ["roles"], "*"),
        ([""], ["persistentvolumeclaims"], "create delete deletecollection get list update watch patch"),
        ([""], ["pods"], "get list watch"),
        ([""], ["endpoints"], "create delete get list update watch"),
        ([""], ["limitranges"], "create delete get list watch patch"),
        ([""], ["nodes"], "get list watch"),
        ([""], ["nodes/proxy"], "get"),
        ([""], ["persistentvolumes"], "create delete get list watch patch"),
        ([""], ["replicationcontrollers"], "list watch"),
        ([""], ["resourcequotas"], "create delete get list patch watch"),
        ([""], ["services"], "create delete get list patch update watch"),
        (["apps"], ["statefulsets"], "create delete get list patch watch"),
        (["apps"], ["deployments"], "create delete get patch update"),
        (["autoscaling"], ["horizontalpodautoscalers"], "list watch"),
        (["batch"], ["jobs"], "list watch create delete"),
        (["batch"], ["cronjobs"], "create delete get list patch watch"),
        (["extensions"], ["daemonsets", "replicasets"], "list watch"),
        (["extensions"], ["deployments"], "create delete get list patch update watch"),
        ([""], ["events"], "create delete patch"),
        (["extensions"], ["ingresses"], "create delete get patch"),
        (["extensions"], ["ingresses/status"], "update"),
        (["networking.k8s.io"], ["ingresses"], "get create delete patch"),
        (["networking.k8s.io"], ["ingresses/status"], "update"),
        (["networking.k8s.io"], ["networkpolicies"], "create delete get patch"),
        (["rbac.authorization.k8s.io"], ["rolebindings"], "create delete get patch"),
        (["authentication.k8s.io"], ["tokenreviews"], "create delete"),
        (["authorization.k8s.io"], ["subjectaccessreviews"], "create delete"),
        (["kubed.appscode.com"], ["searchresults"], "get"),
        (["policy"], ["poddisruptionbudgets"], "create delete get"),
    ]
)

GUIDE_POLICY: tuple[rbac.PolicyRule, ...] = tuple(
    rbac.PolicyRule(api_groups=g, resources=r, verbs=v) for g, r, v in GUIDE_RULES
)


def role(namespace: str, extra: tuple[rbac.PolicyRule, ...] = ()) -> dict[str, Any]:
    rules = [r.as_dict() for r in GUIDE_POLICY + extra]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": ROLE_NAME, "namespace": namespace},
        "rules": rules,
    }


def role_binding(
    namespace: str, *, account: str = "astronomer-commander", account_namespace: str = "astronomer"
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": BINDING_NAME, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE_NAME},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": account_namespace}],
    }
