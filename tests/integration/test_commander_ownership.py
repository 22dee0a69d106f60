"""Issue 11, part 2: commander never touches what airpool does not own (real API server, commander's own token).

Without a pool and with ``namespaceFreeFormEntry``, a user typed the name of another team's namespace: commander
labelled it as its own and the Deployment's delete removed it with the team's ConfigMap. Now such a namespace is
refused before any change, and neither a soft nor a hard delete (nor the purge after retention) touches it; a
namespace commander created itself is kept by a soft delete (as the CLI promises) and removed by the purge.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import lightkube
import pytest
from lightkube.models.core_v1 import ConfigMap
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap as ConfigMapResource
from lightkube.resources.core_v1 import Namespace, Secret

from airpool.commander import worker
from airpool.domain.deployments import DeploymentStatus
from airpool.manifests import rbac
from airpool.services import cleanup, deployments, workspaces
from airpool.services.auth import Actor
from airpool.services.platform import Platform
from tests.support import cluster as cluster_support
from tests.support import commander_env
from tests.support import platform as tp

pytestmark = pytest.mark.slow


@dataclass
class Env:
    plat: Platform
    actor: Actor
    workspace_id: str
    worker: worker.Worker
    clock: tp.Clock

    def create(self, namespace: str) -> str:
        return deployments.create(
            self.plat,
            self.actor,
            workspace_id=self.workspace_id,
            label="etl",
            executor="LocalExecutor",
            namespace=namespace,
        ).id

    def run_jobs(self) -> None:
        while (job := self.worker.run_once()) is not None:
            assert job.state in ("done", "failed", "queued"), job


@contextlib.contextmanager
def env(sqlite_url: str, commander: lightkube.Client, admin: lightkube.Client, *, hard: bool) -> Iterator[Env]:
    rules = rbac.COMMANDER_NAMESPACE_RULES + rbac.NAMESPACE_LIFECYCLE_RULES
    with commander_env.cluster_grant(admin, rules):
        clock = tp.Clock()
        plat = tp.make(sqlite_url, tp.config(free_form=True, hard_delete=hard, retention_days=1), clock=clock)
        try:
            actor = tp.admin(plat)
            ws = workspaces.create(plat, actor, label="data")
            settings = worker.WorkerSettings(lease_seconds=30, status_interval=0.3, healthy_timeout=90)
            yield Env(plat, actor, ws.id, worker.Worker(plat, commander, settings=settings), clock)
        finally:
            plat.close()


@contextlib.contextmanager
def other_teams_namespace(admin: lightkube.Client) -> Iterator[str]:
    """``kubectl create namespace team-x`` and a ConfigMap in it: nothing of airpool's."""
    with cluster_support.fresh_namespace(admin, prefix="team") as name:
        admin.create(
            ConfigMapResource(metadata=ObjectMeta(name="team-settings", namespace=name), data={"owner": "team-x"})
        )
        yield name


def _untouched(admin: lightkube.Client, name: str) -> None:
    ns = admin.get(Namespace, name)
    assert ns.status.phase == "Active"
    labels = ns.metadata.labels or {}
    assert not any(key.startswith("airpool.io/") or value == "airpool" for key, value in labels.items()), labels
    config_map: ConfigMap = admin.get(ConfigMapResource, "team-settings", namespace=name)
    assert config_map.data == {"owner": "team-x"}
    assert [s.metadata.name for s in admin.list(Secret, namespace=name, labels={"airpool.io/deployment": None})] == []


@pytest.mark.parametrize("hard", [False, True], ids=["soft-delete", "hard-delete"])
def test_an_existing_namespace_airpool_did_not_create_is_refused_and_never_deleted(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client, hard: bool
) -> None:
    with env(sqlite_url, commander_client, admin_client, hard=hard) as e, other_teams_namespace(admin_client) as ns:
        dep_id = e.create(ns)
        e.run_jobs()
        dep = deployments.get(e.plat, e.actor, dep_id)
        assert dep.status is DeploymentStatus.FAILED
        assert f"namespace '{ns}' already exists and was not created by airpool" in dep.status_message
        assert "never adopts, relabels or deletes" in dep.status_message
        _untouched(admin_client, ns)

        deleted = deployments.delete(e.plat, e.actor, dep_id)
        e.run_jobs()
        _untouched(admin_client, ns)
        if not hard:  # the retention ends: the purge releases only what commander created
            assert deleted.releases_at is not None
            e.clock.advance(days=2)
            cleanup.run(e.plat)
            e.run_jobs()
            _untouched(admin_client, ns)


def test_a_soft_delete_keeps_the_namespace_commander_created_until_the_purge(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    """What the CLI promises ("namespace ... kept until ...") is what happens."""
    with env(sqlite_url, commander_client, admin_client, hard=False) as e:
        ns = cluster_support.unique_name("own")
        dep_id = e.create(ns)
        e.run_jobs()
        assert deployments.get(e.plat, e.actor, dep_id).status is DeploymentStatus.HEALTHY
        deployments.delete(e.plat, e.actor, dep_id)
        e.run_jobs()
        assert commander_env.namespace_exists(admin_client, ns)
        kept = commander_env.applied_objects(admin_client, ns, dep_id)
        assert not any(name.startswith(("Deployment ", "StatefulSet ")) for name in kept), kept
        e.clock.advance(days=2)
        cleanup.run(e.plat)
        e.run_jobs()
        cluster_support.wait_for(
            lambda: not commander_env.namespace_exists(admin_client, ns), timeout=120, what=f"namespace {ns} gone"
        )
