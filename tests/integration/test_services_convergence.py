"""Level-triggered convergence in the services, on SQLite and PostgreSQL: owed work is queued again, every stuck
state has an action (retry, force release), messages name what holds a resource and how to free it, and writes
of a worker whose lease passed are refused. Commander's part is played through the same service calls it makes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from airpool.domain.deployments import DeploymentStatus
from airpool.domain.errors import Conflict, Forbidden, NotFound
from airpool.domain.pool import FORCE_RELEASED, NamespaceState
from airpool.services import auth, commander_jobs, deployments, pool, workspaces
from airpool.services.access import Actor, Role
from airpool.services.commander_jobs import JobKind
from airpool.services.platform import Platform
from airpool.store import models
from tests.support import platform as tp


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = tp.make(database_url, tp.config(pool_names=("pool-0", "pool-1"), hard_delete=True))
    yield p
    p.close()


@pytest.fixture
def soft(database_url: str) -> Iterator[Platform]:
    p = tp.make(database_url, tp.config(pool_names=("pool-0", "pool-1"), hard_delete=False, retention_days=7))
    yield p
    p.close()


def _clock(p: Platform) -> tp.Clock:
    assert isinstance(p.clock, tp.Clock)
    return p.clock


def _create(p: Platform, admin: Actor, **kw: str) -> str:
    ws = workspaces.list_for(p, admin)[0].id
    return deployments.create(p, admin, workspace_id=ws, label=kw.pop("label", "etl"), **kw).id


def _ns(p: Platform, admin: Actor, name: str) -> pool.views.NamespaceView:
    return next(v for v in pool.status(p, admin) if v.name == name)


def _lease(p: Platform, kind: JobKind, worker: str = "w") -> commander_jobs.views.LeasedJob:
    job = commander_jobs.lease(p, worker_id=worker, kinds=(kind,))
    assert job is not None
    return job


def _user(p: Platform, admin: Actor, name: str, role: Role | None) -> Actor:
    auth.create_user(p, admin, username=name, password="correct horse battery")
    user = auth.authenticate(p, auth.login(p, username=name, password="correct horse battery").token)
    if role is not None:
        ws = workspaces.list_for(p, admin)[0].id
        workspaces.set_member(p, admin, ws, username=name, role=role.value)
    return user


def test_a_permanently_failed_uninstall_is_queued_again_until_the_namespace_returns(plat: Platform) -> None:
    """The 85-second API server outage of the issue: the uninstall failed for good; commander's periodic pass
    queues it again (not at once: an admin may be fixing the cause), and it converges."""
    admin = tp.admin(plat)
    dep = _create(plat, admin, namespace="pool-0")
    deployments.delete(plat, admin, dep)
    job = _lease(plat, JobKind.UNINSTALL)
    commander_jobs.fail(plat, job.job.id, worker_id="w", error="cannot reach the API server", temporary=False)
    assert _ns(plat, admin, "pool-0").state is NamespaceState.RELEASING
    assert commander_jobs.requeue_owed(plat) == []  # just failed: later
    _clock(plat).advance(seconds=commander_jobs.PERMANENT_RETRY.total_seconds() + 1)
    (again,) = commander_jobs.requeue_owed(plat)
    assert (again.id, again.kind, again.state) == (job.job.id, "uninstall", "queued")
    assert commander_jobs.requeue_owed(plat) == []  # queued once, not twice
    retried = _lease(plat, JobKind.UNINSTALL)
    commander_jobs.complete(plat, retried.job.id, worker_id="w")
    assert _ns(plat, admin, "pool-0").state is NamespaceState.AVAILABLE
    assert deployments.deletion(plat, admin, dep) is None  # hard delete done: the record is gone


def test_a_lost_uninstall_job_is_made_again_from_the_deployment_row(plat: Platform) -> None:
    """The job is only the wake-up: a Deployment that is deleting with no job at all gets a new uninstall."""
    admin = tp.admin(plat)
    dep = _create(plat, admin, namespace="pool-1")
    deployments.delete(plat, admin, dep)
    with plat.db.write() as s:  # the job is lost (a restore from an older backup, a bug)
        s.execute(sa.delete(models.CommanderJob).where(models.CommanderJob.kind == "uninstall"))
    (made,) = commander_jobs.requeue_owed(plat)
    assert (made.kind, made.namespace, made.deployment_id) == ("uninstall", "pool-1", dep)
    assert made.payload["hard"] is True
    commander_jobs.complete(plat, _lease(plat, JobKind.UNINSTALL).job.id, worker_id="w")
    assert _ns(plat, admin, "pool-1").state is NamespaceState.AVAILABLE


def test_retry_runs_the_owed_work_now_for_editors_and_says_when_there_is_none(plat: Platform) -> None:
    admin = tp.admin(plat)
    dep = _create(plat, admin, namespace="pool-0")
    install = _lease(plat, JobKind.INSTALL)
    commander_jobs.fail(plat, install.job.id, worker_id="w", error="lacks create pods", temporary=False)
    viewer = _user(plat, admin, "vera", Role.VIEWER)
    stranger = _user(plat, admin, "stan", None)
    with pytest.raises(Forbidden):
        commander_jobs.retry_deployment(plat, viewer, dep)
    with pytest.raises(NotFound):
        commander_jobs.retry_deployment(plat, stranger, dep)
    editor = _user(plat, admin, "eddie", Role.EDITOR)
    job = commander_jobs.retry_deployment(plat, editor, dep)
    assert (job.id, job.state, job.attempts) == (install.job.id, "queued", 0)
    view = deployments.get(plat, admin, dep)
    assert (view.status, view.status_message) == (DeploymentStatus.DEPLOYING, "install queued again")
    leased = _lease(plat, JobKind.INSTALL)
    with pytest.raises(Conflict, match="commander is working on its install right now"):
        commander_jobs.retry_deployment(plat, editor, dep)
    commander_jobs.report_status(plat, dep, status=DeploymentStatus.HEALTHY, message="all 7 workloads ready")
    commander_jobs.complete(plat, leased.job.id, worker_id="w")
    with pytest.raises(Conflict, match="nothing to retry: it is healthy"):
        commander_jobs.retry_deployment(plat, editor, dep)

    # A delete backing off after temporary failures runs now when asked.
    deployments.delete(plat, admin, dep)
    un = _lease(plat, JobKind.UNINSTALL)
    waiting = commander_jobs.fail(plat, un.job.id, worker_id="w", error="connection refused", temporary=True)
    assert commander_jobs.lease(plat, worker_id="w") is None
    assert commander_jobs.retry_deployment(plat, admin, dep).id == waiting.id
    assert _lease(plat, JobKind.UNINSTALL).job.id == waiting.id


def test_a_second_delete_says_where_the_removal_stands(plat: Platform) -> None:
    admin = tp.admin(plat)
    dep = _create(plat, admin, namespace="pool-0", release_name="stuck-one")
    deployments.delete(plat, admin, dep)
    job = _lease(plat, JobKind.UNINSTALL)
    commander_jobs.fail(plat, job.job.id, worker_id="w", error="connection refused", temporary=False)
    with pytest.raises(Conflict) as caught:
        deployments.delete(plat, admin, dep)
    msg = caught.value.message
    assert msg.startswith("Deployment stuck-one is already deleted: deleted at 20")
    assert "still removing its objects from namespace pool-0: uninstall failed: connection refused" in msg
    assert f"`airpool deployment retry {dep}`" in msg
    assert "`airpool pool release --force pool-0`" in msg
    view = deployments.deletion(plat, admin, dep)
    assert view is not None
    assert view.status is DeploymentStatus.DELETING
    with pytest.raises(Conflict) as taken:  # what holds the namespace, why, and how to free it
        _create(plat, admin, namespace="pool-0", label="next")
    assert taken.value.message.startswith(
        f"namespace 'pool-0' is not available: it is being released after its Deployment {dep} was deleted "
        "(uninstall failed: connection refused"
    )
    assert "`airpool pool release --force pool-0`" in taken.value.message
    with pytest.raises(NotFound):
        deployments.deletion(plat, admin, _create(plat, admin, namespace="pool-1"))  # a live one


def test_a_soft_deleted_deployment_holding_its_release_name_is_named_with_how_to_free_it(soft: Platform) -> None:
    admin = tp.admin(soft)
    dep = _create(soft, admin, namespace="pool-0", release_name="etl-one", label="nightly etl")
    deleted = deployments.delete(soft, admin, dep)
    commander_jobs.complete(soft, _lease(soft, JobKind.UNINSTALL).job.id, worker_id="w")
    assert deployments.list_visible(soft, admin) == []
    with pytest.raises(Conflict) as caught:
        _create(soft, admin, namespace="pool-1", release_name="etl-one")
    msg = caught.value.message
    assert msg.startswith(f"release name 'etl-one' is held by soft-deleted Deployment 'nightly etl' ({dep}) of ")
    assert deleted.releases_at is not None
    assert f"kept with its data until {deleted.releases_at.strftime('%Y-%m-%dT%H:%M:%SZ')}" in msg
    assert "a system admin can free it now with `airpool pool release pool-0`" in msg
    with pytest.raises(Conflict, match=r"soft-deleted at 20.*kept with its data until"):
        deployments.delete(soft, admin, dep)
    pool.release_early(soft, admin, "pool-0")  # the action the message names frees the name
    assert _create(soft, admin, namespace="pool-1", release_name="etl-one")


def test_force_release_gives_up_a_stuck_removal_and_the_check_offers_the_namespace(plat: Platform) -> None:
    admin = tp.admin(plat)
    dep = _create(plat, admin, namespace="pool-0")
    deployments.delete(plat, admin, dep)
    job = _lease(plat, JobKind.UNINSTALL)
    commander_jobs.fail(plat, job.job.id, worker_id="w", error="forbidden", temporary=False)
    with pytest.raises(Conflict) as caught:
        pool.release_early(plat, admin, "pool-0")
    assert "is releasing, not retained" in caught.value.message
    assert f"`airpool deployment retry {dep}` retries now" in caught.value.message
    assert "`airpool pool release --force pool-0`" in caught.value.message
    with pytest.raises(Forbidden):
        pool.release_early(plat, _user(plat, admin, "eddie", Role.EDITOR), "pool-0", force=True)

    view = pool.release_early(plat, admin, "pool-0", force=True)
    assert (view.state, view.holder_id, view.health_reason) == (NamespaceState.MISCONFIGURED, None, FORCE_RELEASED)
    assert "pool-0" not in pool.available_namespaces(plat)  # not on the admin's word: commander checks first
    assert deployments.deletion(plat, admin, dep) is None
    kinds = {(j.kind, j.state) for j in commander_jobs.for_deployment(plat, dep)}
    assert ("uninstall", "cancelled") in kinds
    assert ("purge", "queued") in kinds  # its kept data is dropped
    assert commander_jobs.requeue_owed(plat) == []  # nothing owed any more
    assert "pool-0" in pool.health_targets(plat)
    pool.record_health(plat, "pool-0", ok=True)
    assert "pool-0" in pool.available_namespaces(plat)


def test_a_namespace_not_found_empty_right_before_it_is_offered_waits_misconfigured(plat: Platform) -> None:
    admin = tp.admin(plat)
    dep = _create(plat, admin, namespace="pool-1")
    deployments.delete(plat, admin, dep)
    job = _lease(plat, JobKind.UNINSTALL)
    reason = "1 object(s) of a former Deployment remain: ConfigMap x (Deployment other)"
    commander_jobs.complete(plat, job.job.id, worker_id="w", not_offerable=reason)
    row = _ns(plat, admin, "pool-1")
    assert (row.state, row.holder_id, row.health_reason) == (NamespaceState.MISCONFIGURED, None, reason)
    assert deployments.deletion(plat, admin, dep) is None
    pool.record_health(plat, "pool-1", ok=True)  # the leftovers are gone: the check offers it
    assert _ns(plat, admin, "pool-1").state is NamespaceState.AVAILABLE


def test_status_reports_of_a_worker_whose_lease_passed_are_not_written(plat: Platform) -> None:
    admin = tp.admin(plat)
    dep = _create(plat, admin, namespace="pool-0")
    job = commander_jobs.lease(plat, worker_id="paused", lease_seconds=30)
    assert job is not None
    lease = (job.job.id, "paused")
    assert commander_jobs.report_status(plat, dep, status=DeploymentStatus.DEPLOYING, message="applying", lease=lease)
    _clock(plat).advance(seconds=31)
    assert not commander_jobs.report_status(
        plat, dep, status=DeploymentStatus.HEALTHY, message="stale news", lease=lease
    )
    assert deployments.get(plat, admin, dep).status_message == "applying"
    taken = commander_jobs.lease(plat, worker_id="other")
    assert taken is not None
    assert taken.job.id == job.job.id
    assert commander_jobs.report_status(
        plat, dep, status=DeploymentStatus.HEALTHY, message="all ready", lease=(taken.job.id, "other")
    )
    assert not commander_jobs.report_status(plat, dep, status=DeploymentStatus.FAILED, message="x", lease=lease)
    assert deployments.get(plat, admin, dep).status is DeploymentStatus.HEALTHY
