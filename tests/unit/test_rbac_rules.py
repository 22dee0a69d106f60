"""Commander's rules: they cover every object of an Airflow Deployment and every rule of the Roles it creates."""

from __future__ import annotations

import pytest

from airpool.manifests import rbac
from airpool.manifests.rbac import AccessCheck, PolicyRule
from tests.support import guide_roles

NEEDED = rbac.expand(rbac.COMMANDER_NAMESPACE_RULES)

#: (group, resource) of every kind in one Airflow Deployment (shared/reference/airflow-deployment-objects.md).
DEPLOYMENT_KINDS = [
    ("", "serviceaccounts"),
    ("", "secrets"),
    ("", "configmaps"),
    ("", "services"),
    ("", "resourcequotas"),
    ("", "limitranges"),
    ("", "persistentvolumeclaims"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("networking.k8s.io", "networkpolicies"),
    ("networking.k8s.io", "ingresses"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("batch", "cronjobs"),
    ("batch", "jobs"),
]

#: Server-side apply (get/create/patch), readiness watches, label-selected deletion.
LIFECYCLE_VERBS = ["create", "get", "list", "watch", "patch", "update", "delete", "deletecollection"]

#: The Roles a Deployment creates (same reference): commander must hold each rule (escalation prevention).
DEPLOYMENT_ROLE_RULES = [
    PolicyRule(("",), ("pods",), ("create", "list", "get", "patch", "watch", "delete")),
    PolicyRule(("",), ("pods/log",), ("get", "list")),
    PolicyRule(("",), ("pods/exec",), ("create", "get")),
    PolicyRule(("",), ("events",), ("list", "watch")),
]


@pytest.mark.parametrize(("group", "resource"), DEPLOYMENT_KINDS)
def test_every_deployment_kind_can_be_applied_watched_and_deleted(group: str, resource: str) -> None:
    wanted = [AccessCheck(verb=v, resource=resource, subresource="", group=group) for v in LIFECYCLE_VERBS]
    assert rbac.missing(wanted, rbac.COMMANDER_NAMESPACE_RULES) == ()


def test_every_rule_commander_grants_is_a_rule_it_holds() -> None:
    assert rbac.missing(rbac.expand(DEPLOYMENT_ROLE_RULES), rbac.COMMANDER_NAMESPACE_RULES) == ()


def test_no_wildcards_and_nothing_cluster_scoped_in_the_namespace_role() -> None:
    for rule in rbac.COMMANDER_NAMESPACE_RULES:
        assert "*" not in rule.api_groups + rule.resources + rule.verbs
        assert not {"persistentvolumes", "nodes", "clusterroles", "clusterrolebindings"} & set(rule.resources)


def test_expand_splits_subresources_and_is_sorted_without_repeats() -> None:
    rules = [PolicyRule(("",), ("pods", "pods/exec"), ("get",)), PolicyRule(("",), ("pods",), ("get", "list"))]
    assert rbac.expand(rules) == (
        AccessCheck("get", "pods", "", ""),
        AccessCheck("get", "pods", "exec", ""),
        AccessCheck("list", "pods", "", ""),
    )
    assert str(AccessCheck("create", "pods", "exec", "")) == "create pods/exec (core)"
    assert AccessCheck("create", "pods", "exec", "").resource_attributes("ns-1") == {
        "verb": "create",
        "resource": "pods",
        "group": "",
        "subresource": "exec",
        "namespace": "ns-1",
    }


@pytest.mark.parametrize(
    ("rule", "check", "allowed"),
    [
        (PolicyRule(("*",), ("*",), ("list",)), AccessCheck("list", "pods", "log", ""), True),
        (PolicyRule(("*",), ("*",), ("list",)), AccessCheck("get", "pods", "", ""), False),
        (PolicyRule(("",), ("pods",), ("*",)), AccessCheck("create", "pods", "exec", ""), False),
        (PolicyRule(("",), ("pods/*",), ("create",)), AccessCheck("create", "pods", "exec", ""), True),
        (PolicyRule(("apps",), ("*/scale",), ("patch",)), AccessCheck("patch", "deployments", "scale", "apps"), True),
        (PolicyRule(("extensions",), ("deployments",), ("get",)), AccessCheck("get", "deployments", "", "apps"), False),
        (PolicyRule(("",), ("pods/log",), ("get",)), AccessCheck("get", "pods", "", ""), False),
    ],
)
def test_allows_follows_kubernetes_wildcards(rule: PolicyRule, check: AccessCheck, allowed: bool) -> None:
    assert rbac.allows(rule, check) is allowed


def test_rules_with_resource_names_or_urls_grant_nothing_general() -> None:
    assert (
        PolicyRule.from_dict({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["get"]})
        is None
    )
    assert PolicyRule.from_dict({"nonResourceURLs": ["/metrics"], "verbs": ["get"]}) is None


def test_the_guides_hand_written_role_lacks_what_the_pod_launcher_role_needs() -> None:
    """The reference's manual Role: commander could not create the Deployment's pod-launcher Role with it."""
    lacking = {str(check) for check in rbac.missing(NEEDED, guide_roles.GUIDE_POLICY)}
    assert {"create pods/exec (core)", "get pods/log (core)", "create pods (core)", "get events (core)"} <= lacking
    assert "create roles (rbac.authorization.k8s.io)" not in lacking
