"""Commander's Role against the Airflow manifests as they are now: the commander engineer may add objects or
rules there, and this test fails when commander's single rule set no longer covers them."""

from __future__ import annotations

from airpool.manifests import rbac
from airpool.manifests.airflow import access
from airpool.manifests.rbac import PolicyRule


def test_the_airflow_manifests_roles_are_covered() -> None:
    """Whatever the Airflow manifests grant today (they may add rules) must stay within commander's Role."""
    granted = [PolicyRule.from_dict(rule) for rules in access.ROLE_RULES.values() for rule in rules]
    assert all(rule is not None for rule in granted)
    assert rbac.missing(rbac.expand(r for r in granted if r is not None), rbac.COMMANDER_NAMESPACE_RULES) == ()
