"""Cleanup of soft deletes: several replicas at once, admin early release, and the ``airpool cleanup`` command."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from airpool.cli.main import app
from airpool.domain.errors import Conflict, NotFound
from airpool.domain.pool import RETENTION_ENDED, NamespaceState
from airpool.services import cleanup, commander_jobs, deployments, platform, pool, workspaces
from airpool.services.access import Actor
from airpool.services.platform import Platform
from airpool.store import models
from tests.support import platform as tp

NAMES = tuple(f"pool-{i:02d}" for i in range(10))


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = tp.make(database_url, tp.config(pool_names=NAMES, retention_days=3))
    yield p
    p.close()


def _checked_clean(p: Platform, names: tuple[str, ...] | list[str]) -> None:
    """Commander's check after the purge (what its worker reports): the namespaces are clean."""
    for name in names:
        pool.record_health(p, name, ok=True)


def _waiting_for_the_check(p: Platform, admin: Actor) -> list[str]:
    return sorted(
        v.name
        for v in pool.status(p, admin)
        if v.state is NamespaceState.MISCONFIGURED and v.health_reason == RETENTION_ENDED
    )


def _retain_all(p: Platform, admin: Actor, n: int) -> list[str]:
    """Create n Deployments, soft-delete them, and let commander finish: n retained namespaces."""
    ws = workspaces.list_for(p, admin)[0].id
    ids = [deployments.create(p, admin, workspace_id=ws, label=f"d{i}").id for i in range(n)]
    for dep_id in ids:
        deployments.delete(p, admin, dep_id)
    while (job := commander_jobs.lease(p, worker_id="w")) is not None:
        commander_jobs.complete(p, job.job.id, worker_id="w")
    return ids


def test_replicas_cleaning_up_at_once_release_each_namespace_once(plat: Platform) -> None:
    admin = tp.admin(plat)
    ids = _retain_all(plat, admin, 8)
    assert isinstance(plat.clock, tp.Clock)
    plat.clock.advance(days=3, seconds=1)
    replicas = [
        platform.connect(plat.config, url=plat.db.url, clock=plat.clock, require_schema=False) for _ in range(4)
    ]
    reports: list[cleanup.CleanupReport] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(replicas))

    def run(replica: Platform) -> None:
        barrier.wait()
        report = cleanup.run(replica)
        with lock:
            reports.append(report)

    threads = [threading.Thread(target=run, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in replicas:
        r.close()
    released = [n for r in reports for n in r.released]
    finalized = [d for r in reports for d in r.finalized]
    assert sorted(released) == list(NAMES[:8])
    assert sorted(finalized) == sorted(ids)
    # Never offered on the cleanup's word: each waits for commander's purge and check.
    assert pool.available_namespaces(plat) == list(NAMES[8:])
    assert _waiting_for_the_check(plat, admin) == list(NAMES[:8])
    _checked_clean(plat, NAMES[:8])
    assert pool.available_namespaces(plat) == list(NAMES)
    with plat.db.read() as s:
        purges = s.scalars(sa.select(models.CommanderJob.deployment_id).where(models.CommanderJob.kind == "purge"))
        assert sorted(purges) == sorted(ids)
        assert s.scalar(sa.select(sa.func.count()).select_from(models.Deployment)) == 0


def test_a_soft_deleted_deployment_says_until_when_its_data_is_kept(plat: Platform) -> None:
    # `airpool deployment status` showed the column's name: "deleted; data kept until releases_at".
    admin = tp.admin(plat)
    (dep_id,) = _retain_all(plat, admin, 1)
    with plat.db.read() as s:
        dep = s.get(models.Deployment, dep_id)
        assert dep is not None
        assert dep.releases_at is not None
        until = dep.releases_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert dep.status_message == f"deleted; data kept until {until}"
        assert dep.deleted_at is not None
        assert dep.releases_at - dep.deleted_at == timedelta(days=3)


def test_admin_releases_a_retained_namespace_early(plat: Platform) -> None:
    admin = tp.admin(plat)
    (dep_id,) = _retain_all(plat, admin, 1)
    with pytest.raises(Conflict, match="namespace 'pool-01' is available, not retained"):
        pool.release_early(plat, admin, "pool-01")
    with pytest.raises(NotFound, match="namespace 'nope' is not in the namespace pool"):
        pool.release_early(plat, admin, "nope")
    view = pool.release_early(plat, admin, "pool-00")
    assert (view.state, view.health_reason) == (NamespaceState.MISCONFIGURED, RETENTION_ENDED)
    assert view.holder_id is None
    assert "pool-00" not in pool.available_namespaces(plat)
    _checked_clean(plat, ["pool-00"])
    assert "pool-00" in pool.available_namespaces(plat)
    assert cleanup.run(plat).released == ()
    with plat.db.read() as s:
        assert s.get(models.Deployment, dep_id) is None


def test_cleanup_command(database_url: str, plat: Platform) -> None:
    admin = tp.admin(plat)
    _retain_all(plat, admin, 2)
    runner = CliRunner()
    # the command uses the real clock: nothing is due yet (retention is 3 days)
    result = runner.invoke(app, ["cleanup", "--dry-run", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "would release 0 namespace(s)" in result.output
    with plat.db.write() as s:  # both retentions ended yesterday
        s.execute(
            sa.update(models.PoolNamespace)
            .where(models.PoolNamespace.state == "retained")
            .values(releases_at=datetime.now(UTC) - timedelta(days=1))
        )
    result = runner.invoke(app, ["cleanup", "--dry-run", "--database-url", database_url])
    assert "would release 2 namespace(s): pool-00, pool-01" in result.output
    result = runner.invoke(app, ["cleanup", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "released 2 namespace(s): pool-00, pool-01" in result.output
    assert "removed 2 soft-deleted Deployment(s)" in result.output
    # not retired (the command does not sync the pool): waiting for commander's purge and check
    assert _waiting_for_the_check(plat, admin) == ["pool-00", "pool-01"]


def test_cleanup_command_on_an_unmigrated_database_says_what_to_run(sqlite_url: str) -> None:
    result = CliRunner().invoke(app, ["cleanup", "--database-url", sqlite_url])
    assert result.exit_code == 1
    assert "run `airpool db upgrade`" in result.output
    assert "Traceback" not in result.output
