"""Deployments at the services level, on SQLite and PostgreSQL: create with a pool claim, delete, release."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from airpool.domain.deployments import DeploymentStatus
from airpool.domain.errors import Conflict, InvalidInput, PoolExhausted
from airpool.domain.pool import NamespaceState
from airpool.services import access, cleanup, commander_jobs, deployments, pool, workspaces
from airpool.services.platform import Platform
from airpool.store import models
from tests.support import platform as tp

POOL = ("pool-a", "pool-b", "pool-c")


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = tp.make(database_url, tp.config(pool_names=POOL, hard_delete=True))
    yield p
    p.close()


def _ws(p: Platform, actor: access.Actor) -> str:
    return workspaces.list_for(p, actor)[0].id


def _run_job(p: Platform, kind: commander_jobs.JobKind) -> str | None:
    leased = commander_jobs.lease(p, worker_id="w")
    assert leased is not None
    assert leased.job.kind == kind
    commander_jobs.complete(p, leased.job.id, worker_id="w")
    return leased.job.deployment_id


def _row_counts(p: Platform) -> dict[str, int]:
    with p.db.read() as s:
        return {
            t.__tablename__: int(s.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
            for t in (models.Deployment, models.CommanderJob, models.AuditEvent)
        }


def test_create_claims_first_available_and_queues_install(plat: Platform) -> None:
    admin = tp.admin(plat)
    dep = deployments.create(plat, admin, workspace_id=_ws(plat, admin), label="Sales")
    assert dep.namespace == "pool-a"
    assert dep.status is DeploymentStatus.DEPLOYING
    assert pool.available_namespaces(plat) == ["pool-b", "pool-c"]
    jobs = commander_jobs.for_deployment(plat, dep.id)
    assert [(j.kind, j.state) for j in jobs] == [("install", "queued")]
    status = {v.name: v for v in pool.status(plat, admin)}
    assert status["pool-a"].state is NamespaceState.CLAIMED
    assert status["pool-a"].holder_release_name == dep.release_name
    assert status["pool-a"].holder_label == "Sales"
    assert status["pool-a"].holder_workspace_id == dep.workspace_id
    assert status["pool-a"].holder_workspace_label == "admin's Workspace"
    assert status["pool-b"].holder_label is None


def test_create_writes_the_deployment_its_job_and_its_audit_event_together(plat: Platform) -> None:
    """On PostgreSQL the claim and the three inserts are one statement; on SQLite four. Same rows either way."""
    admin = tp.admin(plat)
    ws = _ws(plat, admin)
    dep = deployments.create(plat, admin, workspace_id=ws, label="Sales", namespace="pool-b", description="d")
    with plat.db.read() as s:
        row = s.get(models.Deployment, dep.id)
        assert row is not None
        assert (row.namespace, row.active_namespace, row.label, row.description) == ("pool-b", "pool-b", "Sales", "d")
        assert row.dag_deployment is None
        assert s.scalar(sa.select(models.Deployment.id).where(models.Deployment.dag_deployment.is_(None))) == dep.id
        base = f"https://deployments.{plat.config.base_domain}/{dep.release_name}"
        assert row.urls[0] == {"type": "airflow", "url": f"{base}/airflow"}
        job = s.scalars(sa.select(models.CommanderJob).where(models.CommanderJob.deployment_id == dep.id)).one()
        assert (job.kind, job.state, job.namespace, job.payload, job.attempts) == ("install", "queued", "pool-b", {}, 0)
        event = s.scalars(sa.select(models.AuditEvent).where(models.AuditEvent.target_id == dep.id)).one()
        assert (event.action, event.actor, event.workspace_id) == ("deployment.create", admin.username, ws)
        assert event.detail == {"release_name": dep.release_name, "namespace": "pool-b", "dag_deployment": "image"}
        holder = s.scalar(sa.select(models.PoolNamespace.holder_id).where(models.PoolNamespace.name == "pool-b"))
        assert holder == dep.id
    assert deployments.get(plat, admin, dep.id) == dep


def test_chosen_namespace_taken_or_unknown_names_itself(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = _ws(plat, admin)
    deployments.create(plat, admin, workspace_id=ws, label="one", namespace="pool-b")
    before = _row_counts(plat)
    with pytest.raises(Conflict, match=r"namespace 'pool-b' is not available: it is used by another Deployment"):
        deployments.create(plat, admin, workspace_id=ws, label="two", namespace="pool-b")
    with pytest.raises(InvalidInput, match=r"namespace 'pool-z' is not in the namespace pool"):
        deployments.create(plat, admin, workspace_id=ws, label="two", namespace="pool-z")
    assert _row_counts(plat) == before


def test_empty_pool_error_counts_states_and_next_return(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = _ws(plat, admin)
    deps = [deployments.create(plat, admin, workspace_id=ws, label=f"d{i}") for i in range(3)]
    deployments.delete(plat, admin, deps[0].id, hard=False)  # soft: releasing, then retained
    leased = [commander_jobs.lease(plat, worker_id="w") for _ in range(3)]
    for job in leased:
        assert job is not None
        commander_jobs.complete(plat, job.job.id, worker_id="w")
    deployments.delete(plat, admin, deps[1].id)  # hard, uninstall not yet done: releasing
    refused = REGISTRY.get_sample_value("airpool_pool_claims_refused_total") or 0.0
    with pytest.raises(PoolExhausted) as err:
        deployments.create(plat, admin, workspace_id=ws, label="late")
    assert REGISTRY.get_sample_value("airpool_pool_claims_refused_total") == refused + 1
    msg = err.value.message
    assert isinstance(err.value, pool.PoolEmpty)
    assert err.value.counts[NamespaceState.RETAINED] == 1
    assert err.value.next_release_at is not None
    assert err.value.next_release_at.utcoffset() == timedelta(0)
    assert msg.startswith("no kubernetes namespaces are available")
    assert "1 claimed, 1 being released, 1 retained, 0 misconfigured" in msg
    assert f"the next retained namespace returns at {err.value.next_release_at:%Y-%m-%dT%H:%M:%S}Z" in msg


def test_empty_pool_of_unusable_namespaces_points_the_admin_to_pool_status(plat: Platform) -> None:
    admin = tp.admin(plat)
    for name in pool.available_namespaces(plat):
        pool.record_health(plat, name, ok=False, reason="rolebinding missing")
    with pytest.raises(PoolExhausted) as err:
        deployments.create(plat, admin, workspace_id=_ws(plat, admin), label="late")
    assert "0 claimed, 0 being released, 0 retained, 3 misconfigured" in err.value.message
    assert err.value.message.endswith(
        "a platform admin can see why each namespace is unusable with `airpool pool status`"
    )


def test_hard_delete_returns_namespace_after_uninstall(plat: Platform) -> None:
    admin = tp.admin(plat)
    dep = deployments.create(plat, admin, workspace_id=_ws(plat, admin), label="Sales", namespace="pool-c")
    deleted = deployments.delete(plat, admin, dep.id, hard=True)
    assert deleted.hard_delete is True
    releases = REGISTRY.get_sample_value("airpool_namespace_release_seconds_count") or 0.0
    assert "pool-c" not in pool.available_namespaces(plat)
    assert deployments.list_for_workspace(plat, admin, dep.workspace_id) == []
    # the queued install was cancelled; commander only sees the uninstall
    assert _run_job(plat, commander_jobs.JobKind.UNINSTALL) == dep.id
    assert "pool-c" in pool.available_namespaces(plat)
    assert REGISTRY.get_sample_value("airpool_namespace_release_seconds_count") == releases + 1
    with plat.db.read() as s:
        assert s.get(models.Deployment, dep.id) is None


def test_soft_delete_retains_until_cleanup(plat: Platform) -> None:
    admin = tp.admin(plat)
    dep = deployments.create(plat, admin, workspace_id=_ws(plat, admin), label="Sales", namespace="pool-a")
    _run_job(plat, commander_jobs.JobKind.INSTALL)
    deleted = deployments.delete(plat, admin, dep.id, hard=False)
    assert deleted.hard_delete is False
    assert deleted.releases_at is not None
    _run_job(plat, commander_jobs.JobKind.UNINSTALL)
    status = {v.name: v for v in pool.status(plat, admin)}
    assert status["pool-a"].state is NamespaceState.RETAINED
    assert status["pool-a"].releases_at == deleted.releases_at
    assert cleanup.run(plat).released == ()  # not due yet
    clock = plat.clock
    assert isinstance(clock, tp.Clock)
    clock.advance(days=plat.config.retention_days, seconds=1)
    assert cleanup.run(plat, dry_run=True).released == ("pool-a",)
    assert "pool-a" not in pool.available_namespaces(plat)
    report = cleanup.run(plat)
    assert report.released == ("pool-a",)
    assert report.finalized == (dep.id,)
    assert "pool-a" not in pool.available_namespaces(plat)  # offered once commander purged and checked it
    assert cleanup.run(plat).released == ()
    purge = commander_jobs.lease(plat, worker_id="w")
    assert purge is not None
    assert purge.job.kind == "purge"
    assert purge.job.payload["release_name"] == dep.release_name
    pool.record_health(plat, "pool-a", ok=True)  # commander's check after the purge
    assert "pool-a" in pool.available_namespaces(plat)


def test_config_without_hard_delete_makes_every_delete_soft(database_url: str) -> None:
    p = tp.make(database_url, tp.config(pool_names=POOL, hard_delete=False))
    try:
        admin = tp.admin(p)
        dep = deployments.create(p, admin, workspace_id=_ws(p, admin), label="Sales")
        assert deployments.delete(p, admin, dep.id, hard=True).hard_delete is False
    finally:
        p.close()


def test_update_queues_upgrade_only_for_runtime_changes(plat: Platform) -> None:
    admin = tp.admin(plat)
    dep = deployments.create(
        plat, admin, workspace_id=_ws(plat, admin), label="Sales", executor="CeleryExecutor", airflow_version="2.11.2"
    )
    renamed = deployments.update(plat, admin, dep.id, label="Sales EU")
    assert renamed.label == "Sales EU"
    assert [j.kind for j in commander_jobs.for_deployment(plat, dep.id)] == ["install"]
    moved = deployments.update(plat, admin, dep.id, executor="KubernetesExecutor", airflow_version="3.3.2")
    assert moved.executor.value == "KubernetesExecutor"
    # The version is an upgrade commander carries out (migration first): pending until then.
    assert (moved.airflow_version, moved.desired_airflow_version, moved.rollout_phase) == ("2.11.2", "3.3.2", "queued")
    assert [u.type for u in moved.urls] == ["airflow"]
    assert moved.status is DeploymentStatus.DEPLOYING
    assert [j.kind for j in commander_jobs.for_deployment(plat, dep.id)] == ["install", "upgrade"]
    with pytest.raises(InvalidInput, match="executor 'Nope' is not supported"):
        deployments.update(plat, admin, dep.id, executor="Nope")
