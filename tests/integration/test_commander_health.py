"""Pool health as commander sees it through its own identity: exists, not terminating, permissions, leftovers."""

from __future__ import annotations

import contextlib
import time

import lightkube
import pytest
from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace

from airpool.commander import health, kinds
from airpool.kube import lists
from airpool.manifests.airflow import common
from tests.support import cluster as cluster_support
from tests.support import commander_env

pytestmark = pytest.mark.slow


def eventually(client: lightkube.Client, namespace: str, ok: bool, timeout: float = 120) -> health.PoolHealth:
    """RBAC and namespace changes take a moment to show; poll until the verdict is ``ok``."""
    deadline = time.monotonic() + timeout
    verdict = health.check(client, namespace)
    while verdict.ok is not ok and time.monotonic() < deadline:
        time.sleep(0.2)
        verdict = health.check(client, namespace)
    return verdict


def test_a_prepared_pool_namespace_is_healthy(
    admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with commander_env.pool_namespace(admin_client) as ns:
        verdict = eventually(commander_client, ns, True)
        assert verdict == health.PoolHealth(ns, True, None)


def test_missing_permissions_are_named(admin_client: lightkube.Client, commander_client: lightkube.Client) -> None:
    with cluster_support.fresh_namespace(admin_client, prefix="opt2") as ns:
        commander_env.grant_guide_role(admin_client, ns)
        verdict = eventually(commander_client, ns, False)
        assert verdict.reason is not None
        assert verdict.reason.startswith("commander lacks ")
        assert f"create pods (core) in namespace {ns}" in verdict.reason


def test_leftovers_of_a_former_deployment_are_reported(
    admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with commander_env.pool_namespace(admin_client) as ns:
        assert eventually(commander_client, ns, True).ok
        leftover = ConfigMap(
            metadata=ObjectMeta(
                name="old-config",
                namespace=ns,
                labels={common.MANAGED_BY: common.MANAGED_BY_VALUE, common.DEPLOYMENT_LABEL: "dep-old"},
            )
        )
        admin_client.create(leftover)
        verdict = health.check(commander_client, ns)
        assert verdict.ok is False
        assert verdict.reason == "1 object(s) of a former Deployment remain: ConfigMap old-config (Deployment dep-old)"
        admin_client.delete(ConfigMap, "old-config", namespace=ns)
        assert health.check(commander_client, ns).ok


def test_deleted_namespace_is_reported(admin_client: lightkube.Client, commander_client: lightkube.Client) -> None:
    with commander_env.pool_namespace(admin_client) as ns:
        assert eventually(commander_client, ns, True).ok
    # fresh_namespace deleted it on exit; while it terminates commander may still see it, once gone its Role is
    # gone too.
    assert health.check(commander_client, ns).ok is False
    cluster_support.wait_for(
        lambda: not commander_env.namespace_exists(admin_client, ns), timeout=60, what=f"namespace {ns} gone"
    )
    verdict = health.check(commander_client, ns)
    assert verdict.reason is not None
    assert f"commander cannot read namespace {ns} (deleted, being deleted" in verdict.reason


def test_terminating_namespace_is_reported_when_commander_can_still_see_it(
    admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    """A finalizer keeps the namespace Terminating; commander's read access to namespaces is cluster-wide here
    (as without a pool), so the verdict can say exactly what is wrong."""
    from airpool.manifests import rbac

    read_namespaces = (rbac.PolicyRule(api_groups=("",), resources=("namespaces",), verbs=("get",)),)
    with commander_env.cluster_grant(admin_client, read_namespaces):
        name = cluster_support.unique_name("term")
        admin_client.create(Namespace(metadata=ObjectMeta(name=name, finalizers=None)))
        commander_env.grant_pool_role(admin_client, name)
        held = ConfigMap(metadata=ObjectMeta(name="held", namespace=name, finalizers=["airpool.io/test-hold"]))
        admin_client.create(held)
        try:
            assert eventually(commander_client, name, True).ok
            admin_client.delete(Namespace, name)
            verdict = eventually(commander_client, name, False)
            assert verdict.reason == f"namespace {name} is being deleted (Terminating)"
        finally:
            with contextlib.suppress(ApiError):
                admin_client.patch(ConfigMap, "held", {"metadata": {"finalizers": None}}, namespace=name)


def test_a_pass_checks_many_namespaces_at_once_and_one_failure_stops_no_other(
    admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    """``check_many``: a healthy namespace, one lacking permissions and one that does not exist, side by side; and
    what skipping the leftover search proves (existence and access) and does not (a former Deployment's object)."""
    with (
        commander_env.pool_namespace(admin_client) as good,
        commander_env.pool_namespace(admin_client) as dirty,
        cluster_support.fresh_namespace(admin_client, prefix="opt2") as lacking,
    ):
        commander_env.grant_guide_role(admin_client, lacking)
        admin_client.create(
            ConfigMap(
                metadata=ObjectMeta(
                    name="old-config",
                    namespace=dirty,
                    labels={common.MANAGED_BY: common.MANAGED_BY_VALUE, common.DEPLOYMENT_LABEL: "dep-old"},
                )
            )
        )
        gone = cluster_support.unique_name("gone")
        targets = [health.Target(n) for n in (good, dirty, lacking, gone)]
        batches: list[list[str]] = []
        result = health.check_many(
            commander_client,
            targets,
            parallel=3,
            on_verdicts=lambda vs: batches.append([v.namespace for v in vs]),
            batch=2,
        )
        verdicts = {v.namespace: v for v in result.verdicts}
        assert result.failed == {}
        assert [v.namespace for v in result.verdicts] == [t.namespace for t in targets]
        # handed over as they came, at most two at a time: the monitor records each batch at once
        assert len(batches) >= 2
        assert all(1 <= len(b) <= 2 for b in batches)
        assert sorted(n for b in batches for n in b) == sorted(verdicts)
        assert set(verdicts) == {good, dirty, lacking, gone}
        assert verdicts[good].ok
        assert (
            verdicts[dirty].reason
            == "1 object(s) of a former Deployment remain: ConfigMap old-config (Deployment dep-old)"
        )
        assert verdicts[lacking].reason is not None
        assert f"create pods (core) in namespace {lacking}" in verdicts[lacking].reason
        assert verdicts[gone].reason is not None
        assert gone in verdicts[gone].reason
        full = 2 + len(kinds.NAMESPACED_KINDS)  # namespace read + rules review + one list per managed kind
        assert verdicts[good].calls == full
        assert verdicts[gone].calls == 1
        # plus one list that reads the resource version the leftover lists are served at (or newer)
        assert result.api_calls == 1 + sum(v.calls for v in result.verdicts)

        light = health.check_many(commander_client, [health.Target(dirty, leftovers=False)], parallel=1)
        assert light.verdicts == (health.PoolHealth(dirty, True, None),)
        assert light.api_calls == 2


def test_leftover_lists_are_served_from_the_watch_cache_and_read_again_when_it_lags(
    admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    """A pass's leftover lists ask the API server's watch cache for the pass's resource version or newer
    (``kube.lists``, not lightkube's private request builder): the parameters reach the API server (a version it has
    not reached is refused with 504, not read from etcd), and such a refusal makes the check read again."""
    with commander_env.pool_namespace(admin_client) as ns:
        admin_client.create(
            ConfigMap(
                metadata=ObjectMeta(
                    name="old-config",
                    namespace=ns,
                    labels={common.MANAGED_BY: common.MANAGED_BY_VALUE, common.DEPLOYMENT_LABEL: "dep-old"},
                )
            )
        )
        version, _ = health.current_version(commander_client, [ns])
        assert version is not None
        config_maps = kinds.Kind("v1", "ConfigMap")
        [found] = health._labelled(commander_client, config_maps, ns, version)
        assert found["metadata"]["name"] == "old-config"
        ahead = str(int(version) + 1_000_000_000)  # a version the API server will not reach during this test
        selector = f"{common.DEPLOYMENT_LABEL}=dep-old"
        with pytest.raises(ApiError) as refused:
            lists.labelled(
                commander_client,
                api_version="v1",
                plural="configmaps",
                namespace=ns,
                selector=selector,
                not_older_than=ahead,
            )
        assert refused.value.status.code == 504, refused.value.status
        [found] = health._labelled(commander_client, config_maps, ns, ahead)  # read again, from etcd
        assert found["metadata"]["name"] == "old-config"
        assert health.check(commander_client, ns, list_version=ahead).reason == (
            "1 object(s) of a former Deployment remain: ConfigMap old-config (Deployment dep-old)"
        )
        # Another group's kind, and a selector that matches nothing.
        assert (
            lists.labelled(
                commander_client,
                api_version="apps/v1",
                plural="deployments",
                namespace=ns,
                selector=selector,
                not_older_than=version,
            )
            == []
        )
