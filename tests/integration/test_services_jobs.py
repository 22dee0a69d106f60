"""The commander job queue and pool health on SQLite and PostgreSQL: leases, takeover, retries, reports."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from airpool.domain.deployments import DeploymentStatus
from airpool.domain.errors import Conflict, Forbidden, NotFound
from airpool.domain.pool import NamespaceState
from airpool.services import commander_jobs, deployments, metrics, pool, workspaces
from airpool.services.access import Actor
from airpool.services.commander_jobs import JobKind, JobState
from airpool.services.platform import Platform
from tests.support import platform as tp


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = tp.make(database_url, tp.config(pool_names=tuple(f"pool-{i}" for i in range(12)), hard_delete=True))
    yield p
    p.close()


def _clock(p: Platform) -> tp.Clock:
    assert isinstance(p.clock, tp.Clock)
    return p.clock


@pytest.fixture
def admin(plat: Platform) -> Actor:
    return tp.admin(plat)


def _create(p: Platform, admin: Actor, n: int = 1) -> list[str]:
    ws = workspaces.list_for(p, admin)[0].id
    return [deployments.create(p, admin, workspace_id=ws, label=f"d{i}").id for i in range(n)]


def test_lease_gives_oldest_job_with_its_deployment(plat: Platform, admin: Actor) -> None:
    first, second = _create(plat, admin, 2)
    leased = commander_jobs.lease(plat, worker_id="w1")
    assert leased is not None
    assert leased.job.deployment_id == first
    assert leased.job.kind == JobKind.INSTALL
    assert leased.job.attempts == 1
    assert leased.deployment is not None
    assert leased.deployment.namespace == "pool-0"
    other = commander_jobs.lease(plat, worker_id="w2")
    assert other is not None
    assert other.job.deployment_id == second
    assert commander_jobs.lease(plat, worker_id="w3") is None


def test_jobs_of_one_deployment_run_in_order(plat: Platform, admin: Actor) -> None:
    (dep,) = _create(plat, admin)
    install = commander_jobs.lease(plat, worker_id="w1")
    assert install is not None
    deployments.delete(plat, admin, dep)
    assert commander_jobs.lease(plat, worker_id="w2") is None  # uninstall waits for the running install
    commander_jobs.complete(plat, install.job.id, worker_id="w1")
    uninstall = commander_jobs.lease(plat, worker_id="w2")
    assert uninstall is not None
    assert uninstall.job.kind == JobKind.UNINSTALL
    assert uninstall.job.payload["hard"] is True


def test_expired_lease_is_taken_over_and_the_old_worker_is_refused(plat: Platform, admin: Actor) -> None:
    _create(plat, admin)
    job = commander_jobs.lease(plat, worker_id="dead", lease_seconds=30)
    assert job is not None
    assert commander_jobs.heartbeat(plat, job.job.id, worker_id="dead", lease_seconds=30)
    _clock(plat).advance(seconds=20)
    assert commander_jobs.lease(plat, worker_id="other") is None  # heartbeat extended it
    _clock(plat).advance(seconds=31)
    taken = commander_jobs.lease(plat, worker_id="other")
    assert taken is not None
    assert taken.job.id == job.job.id
    assert taken.job.attempts == 2
    assert not commander_jobs.heartbeat(plat, job.job.id, worker_id="dead")
    with pytest.raises(Conflict, match="is not leased by 'dead'"):
        commander_jobs.complete(plat, job.job.id, worker_id="dead")
    assert commander_jobs.complete(plat, job.job.id, worker_id="other").state == JobState.DONE


def test_temporary_failures_retry_forever_with_backoff_and_a_visible_reason(plat: Platform, admin: Actor) -> None:
    """An unreachable API server never ends a job: it backs off (capped) and says why and when it tries next."""
    (dep,) = _create(plat, admin)
    clock = _clock(plat)
    delays = []
    for attempt in range(1, 12):
        job = commander_jobs.lease(plat, worker_id="w")
        assert job is not None, attempt
        assert job.job.attempts == attempt
        after = commander_jobs.fail(plat, job.job.id, worker_id="w", error="apiserver timeout", temporary=True)
        assert after.state == JobState.QUEUED
        delays.append((after.run_after - clock()).total_seconds())
        assert commander_jobs.lease(plat, worker_id="w") is None  # not before the backoff
        view = deployments.get(plat, admin, dep)
        assert view.status is DeploymentStatus.DEPLOYING
        assert view.status_message.startswith(f"install attempt {attempt} failed, retrying at 20")
        assert view.status_message.endswith(": apiserver timeout")
        clock.advance(seconds=delays[-1])
    assert delays == [5, 10, 20, 40, 80, 160, 300, 300, 300, 300, 300]


def test_permanent_failure_is_final_at_once(plat: Platform, admin: Actor) -> None:
    (dep,) = _create(plat, admin)
    job = commander_jobs.lease(plat, worker_id="w")
    assert job is not None
    msg = "missing permission: create serviceaccounts () in pool-0"
    assert commander_jobs.fail(plat, job.job.id, worker_id="w", error=msg, temporary=False).state == JobState.FAILED
    view = deployments.get(plat, admin, dep)
    assert view.status is DeploymentStatus.FAILED
    assert view.status_message.startswith(f"install failed: {msg} (commander tries again by itself")
    assert "`airpool deployment retry`" in view.status_message


def test_status_reports_and_claim_to_healthy_metric(plat: Platform, admin: Actor) -> None:
    (dep,) = _create(plat, admin)
    before = REGISTRY.get_sample_value("airpool_claim_to_healthy_seconds_count") or 0.0
    _clock(plat).advance(seconds=42)
    commander_jobs.report_status(plat, dep, status=DeploymentStatus.HEALTHY, message="all 5 workloads ready")
    commander_jobs.report_status(plat, dep, status=DeploymentStatus.HEALTHY, message="still fine")
    view = deployments.get(plat, admin, dep)
    assert view.status is DeploymentStatus.HEALTHY
    assert view.status_message == "still fine"
    assert REGISTRY.get_sample_value("airpool_claim_to_healthy_seconds_count") == before + 1
    assert metrics.CLAIM_TO_HEALTHY is not None


def test_concurrent_workers_never_share_a_job(plat: Platform, admin: Actor) -> None:
    _create(plat, admin, 12)
    got: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def worker(name: str) -> None:
        barrier.wait()
        while (job := commander_jobs.lease(plat, worker_id=name)) is not None:
            with lock:
                got.append(job.job.id)
            commander_jobs.complete(plat, job.job.id, worker_id=name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(set(got))
    assert len(got) == 12


def test_health_moves_available_and_misconfigured(plat: Platform, admin: Actor) -> None:
    assert pool.record_health(plat, "pool-3", ok=False, reason="rolebinding missing") is NamespaceState.MISCONFIGURED
    assert "pool-3" not in pool.available_namespaces(plat)
    row = next(v for v in pool.status(plat, admin) if v.name == "pool-3")
    assert row.health_reason == "rolebinding missing"
    assert pool.record_health(plat, "pool-3", ok=True) is NamespaceState.AVAILABLE
    assert "pool-3" in pool.available_namespaces(plat)
    with pytest.raises(NotFound, match="namespace 'nope' is not in the namespace pool"):
        pool.record_health(plat, "nope", ok=True)


def test_pool_sync_adds_retires_and_returns(plat: Platform, admin: Actor) -> None:
    ws = workspaces.list_for(plat, admin)[0].id
    held = deployments.create(plat, admin, workspace_id=ws, label="held", namespace="pool-1")
    report = tp.with_pool(plat, ("pool-1", "pool-2", "pool-new"))
    assert report.added == ("pool-new",)
    assert "pool-0" in report.retired
    assert report.retire_on_release == ()
    report = tp.with_pool(plat, ("pool-0", "pool-2"))
    assert report.returned == ("pool-0",)
    assert report.retire_on_release == ("pool-1",)
    assert pool.available_namespaces(plat) == ["pool-0", "pool-2"]
    deployments.delete(plat, admin, held.id)
    job = commander_jobs.lease(plat, worker_id="w", kinds=(JobKind.UNINSTALL,))
    assert job is not None
    commander_jobs.complete(plat, job.job.id, worker_id="w")
    states = {v.name: v.state for v in pool.status(plat, admin)}
    assert states["pool-1"] is NamespaceState.RETIRED
    assert states["pool-new"] is NamespaceState.RETIRED


def test_pool_collector_counts_states(plat: Platform, admin: Actor) -> None:
    (_dep,) = _create(plat, admin)
    families = list(metrics.PoolCollector(plat).collect())
    samples = {s.labels["state"]: s.value for s in families[0].samples}
    assert samples["claimed"] == 1
    assert samples["available"] == 11
    assert samples["retired"] == 0


def test_failed_uninstall_shows_on_the_namespace_and_admin_retries(plat: Platform, admin: Actor) -> None:
    (dep,) = _create(plat, admin)
    deployments.delete(plat, admin, dep)
    job = commander_jobs.lease(plat, worker_id="w")
    assert job is not None
    assert job.job.kind == JobKind.UNINSTALL
    msg = "missing permission: delete secrets () in pool-0"
    commander_jobs.fail(plat, job.job.id, worker_id="w", error=msg, temporary=False)
    row = next(v for v in pool.status(plat, admin) if v.name == "pool-0")
    assert row.state is NamespaceState.RELEASING
    assert row.health_reason.startswith(f"uninstall failed: {msg} (commander tries again by itself")
    assert [j.id for j in commander_jobs.failed(plat, admin)] == [job.job.id]
    user = _other_user(plat, admin)
    with pytest.raises(Forbidden):
        commander_jobs.retry(plat, user, job.job.id)
    assert commander_jobs.retry(plat, admin, job.job.id).state == JobState.QUEUED
    with pytest.raises(Conflict, match="only a failed job can be retried"):
        commander_jobs.retry(plat, admin, job.job.id)
    again = commander_jobs.lease(plat, worker_id="w")
    assert again is not None
    assert again.job.attempts == 1
    commander_jobs.complete(plat, again.job.id, worker_id="w")
    row = next(v for v in pool.status(plat, admin) if v.name == "pool-0")
    assert row.state is NamespaceState.AVAILABLE
    assert row.health_reason == ""


def test_health_targets_are_configured_available_or_misconfigured(plat: Platform, admin: Actor) -> None:
    _create(plat, admin)  # pool-0 claimed
    pool.record_health(plat, "pool-5", ok=False, reason="namespace not found")
    tp.with_pool(plat, tuple(f"pool-{i}" for i in range(6)))  # pool-6.. retire
    assert pool.health_targets(plat) == ["pool-1", "pool-2", "pool-3", "pool-4", "pool-5"]


def test_a_whole_health_pass_is_recorded_at_once_and_writes_only_changes(plat: Platform, admin: Actor) -> None:
    _create(plat, admin)  # pool-0 claimed: a verdict on it only keeps the reason
    pool.record_health(plat, "pool-2", ok=False, reason="namespace not found")
    plan = {t.name: t.state for t in pool.health_plan(plat)}
    assert "pool-0" not in plan
    assert plan["pool-2"] is NamespaceState.MISCONFIGURED
    assert plan["pool-1"] is NamespaceState.AVAILABLE
    before = len(audit_events(plat, admin))
    verdicts = [(f"pool-{i}", True, "") for i in range(1, 12)]
    verdicts[0] = ("pool-1", False, "commander lacks 1 permission(s) here: create pods (core) in namespace pool-1")
    moved = pool.record_health_many(plat, verdicts)
    assert moved == {"pool-1": NamespaceState.MISCONFIGURED, "pool-2": NamespaceState.AVAILABLE}
    states = {v.name: (v.state, v.health_reason) for v in pool.status(plat, admin)}
    assert states["pool-1"] == (NamespaceState.MISCONFIGURED, verdicts[0][2])
    assert states["pool-2"] == (NamespaceState.AVAILABLE, "")
    assert states["pool-0"][0] is NamespaceState.CLAIMED
    assert len(audit_events(plat, admin)) == before + 2  # one event per move, none for unchanged rows
    # The same verdicts again move nothing and record nothing.
    assert pool.record_health_many(plat, verdicts) == {}
    assert len(audit_events(plat, admin)) == before + 2
    assert pool.record_health_many(plat, []) == {}
    assert pool.record_health_many(plat, [("not-in-pool", True, "")]) == {}


def audit_events(p: Platform, admin: Actor) -> list[object]:
    from airpool.services import audit

    return list(audit.list_events(p, admin, limit=1000))


def _other_user(p: Platform, admin: Actor) -> Actor:
    from airpool.services import auth

    auth.create_user(p, admin, username="someone", password="correct horse battery")
    return auth.authenticate(p, auth.login(p, username="someone", password="correct horse battery").token)
