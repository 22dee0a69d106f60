"""Commander's one set of Role rules covers everything it does for an Airflow Deployment, and every rule of the
Roles it creates (Kubernetes refuses a Role that grants more than its creator holds)."""

from __future__ import annotations

import itertools

import pytest

from airpool.commander import kinds, preflight
from airpool.domain.deployments import Executor
from airpool.manifests import rbac
from airpool.manifests.airflow import access, render
from airpool.manifests.airflow.spec import AirflowSecrets, AirflowSpec, DagDeployment
from tests.support import guide_roles

SPECS = [
    AirflowSpec(
        deployment_id="d",
        release_name="r",
        namespace="ns",
        executor=executor,
        airflow_version=version,
        dags=dags,
    )
    for executor, version, dags in itertools.product(
        Executor, ("3.3.2", "2.11.0"), (DagDeployment(), DagDeployment.nfs("nfs:/dags"))
    )
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.executor.value}-{s.airflow_version}-{s.dags.source}")
def test_commander_rules_cover_every_kind_and_verb_it_uses(spec: AirflowSpec) -> None:
    needs = preflight.needs(spec, manage_namespace=True)
    assert rbac.missing(needs.namespaced, rbac.COMMANDER_NAMESPACE_RULES) == ()
    cluster_rules = rbac.NAMESPACE_LIFECYCLE_RULES + rbac.PERSISTENT_VOLUME_RULES
    assert rbac.missing(needs.cluster, cluster_rules) == ()
    rendered = {kinds.kind_of(o) for o in render.render(spec, AirflowSecrets.generate())}
    assert rendered <= set(kinds.MANAGED_KINDS)


def test_every_rule_commander_grants_is_held_by_commander() -> None:
    granted = [rbac.PolicyRule.from_dict(rule) for rules in access.ROLE_RULES.values() for rule in rules]
    checks = rbac.expand(r for r in granted if r is not None)
    assert checks
    assert rbac.missing(checks, rbac.COMMANDER_NAMESPACE_RULES) == ()
    assert set(checks) <= set(preflight.pool_namespace_needs().namespaced)


def test_the_guides_hand_written_role_lacks_what_the_pod_launcher_role_grants() -> None:
    lacking = {str(c) for c in rbac.missing(preflight.pool_namespace_needs().namespaced, guide_roles.GUIDE_POLICY)}
    assert {"create pods (core)", "create pods/exec (core)", "get pods/log (core)", "patch jobs (batch)"} <= lacking
    assert "create secrets (core)" not in lacking


def test_missing_permissions_read_like_the_guide() -> None:
    check = rbac.AccessCheck(verb="create", resource="pods", subresource="exec", group="")
    assert preflight.describe(check, "pool-a") == "create pods/exec (core) in namespace pool-a"
    pv = rbac.AccessCheck(verb="create", resource="persistentvolumes", subresource="", group="")
    assert preflight.describe(pv, None) == "create persistentvolumes (core) cluster-wide"


def test_cluster_scoped_needs_only_when_the_job_needs_them() -> None:
    plain = preflight.needs(SPECS[0], manage_namespace=False)
    assert plain.cluster == ()
    nfs = next(s for s in SPECS if s.dags.nfs_server)
    assert {c.resource for c in preflight.needs(nfs, manage_namespace=False).cluster} == {"persistentvolumes"}
    assert {c.resource for c in preflight.needs(SPECS[0], manage_namespace=True).cluster} == {"namespaces"}
