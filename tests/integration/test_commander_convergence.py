"""Commander converges on the real API server (commander's own token), SQLite and PostgreSQL: a Deployment
whose namespace an admin deleted turns ``unknown`` and its delete converges once the namespace is back; a
refusal right after the API server was down, or one a fresh access review contradicts, is retried, not final;
and a commander process paused (SIGSTOP) past its lease and resumed after another took over writes nothing."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lightkube
import pytest
import yaml
from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from airpool.commander import errors, preflight, uninstall, worker
from airpool.devcluster import ClusterInfo
from airpool.domain.deployments import DeploymentStatus
from airpool.domain.pool import NamespaceState
from airpool.services import commander_jobs, deployments, pool, workspaces
from tests.integration.test_commander_worker import env
from tests.support import cluster as cluster_support
from tests.support import commander_env
from tests.support import platform as platform_support

pytestmark = pytest.mark.slow


def _impatient(w: worker.Worker) -> worker.Worker:
    """The same worker, retrying permanent failures on every pass (the default waits 5 minutes)."""
    return worker.Worker(w.platform, w.client, settings=dataclasses.replace(w.settings, permanent_retry_seconds=0))


def test_a_deployment_whose_namespace_was_deleted_turns_unknown_and_its_delete_converges(
    database_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with env(database_url, admin_client, commander_client) as e:
        ns = e.names[0]
        dep_id = e.create("etl", "LocalExecutor", ns)
        job = e.worker.run_once()
        assert job is not None
        assert e.get(dep_id).status is DeploymentStatus.HEALTHY, e.get(dep_id).status_message

        admin_client.delete(Namespace, ns)  # an admin deletes the namespace (and commander's Role with it)
        cluster_support.wait_for(
            lambda: not commander_env.namespace_exists(admin_client, ns), timeout=300, what=f"{ns} gone"
        )
        errors.forget_unreachable()  # no earlier test's API server restart counts as evidence here
        assert e.worker.refresh_statuses() == 1
        dep = e.get(dep_id)
        assert dep.status is DeploymentStatus.UNKNOWN
        assert dep.status_message.startswith("commander cannot check this Deployment: ")
        assert ns in dep.status_message

        deployments.delete(e.plat, e.actor, dep_id)  # type: ignore[arg-type]
        job = e.worker.run_once()
        assert job is not None
        assert (job.kind, job.state) == ("uninstall", "failed")  # commander cannot see inside: not verified
        assert e.state(ns) is NamespaceState.RELEASING
        reason = next(v.health_reason for v in pool.status(e.plat, e.actor) if v.name == ns)  # type: ignore[arg-type]
        assert reason.startswith("uninstall failed: ")

        # The admin re-creates the namespace with commander's Role: the next pass retries, nothing is left, and
        # the namespace returns to the pool (checked right before it is offered).
        admin_client.create(Namespace(metadata=ObjectMeta(name=ns)))
        commander_env.grant_pool_role(admin_client, ns)
        impatient = _impatient(e.worker)
        assert [(j.kind, j.id) for j in impatient.converge()] == [("uninstall", job.id)]
        job = impatient.run_once()
        assert job is not None
        assert job.state == "done", job.last_error
        assert e.state(ns) is NamespaceState.AVAILABLE
        assert deployments.deletion(e.plat, e.actor, dep_id) is None  # type: ignore[arg-type]


def test_a_refusal_right_after_the_api_server_was_unreachable_is_retried_not_final(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client, dev_cluster: ClusterInfo
) -> None:
    """The API server restarts during an install: connection errors, then refusals while its authorization
    caches load. The refusal here is a real one (commander's RoleBinding removed), within the window in which a
    refusal is not taken at its word: the job retries, and once the permission is there it converges."""
    try:
        _restart_during_install(sqlite_url, admin_client, commander_client, dev_cluster)
    finally:
        errors.forget_unreachable()  # this process's evidence must not make later tests' refusals temporary


def _restart_during_install(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client, dev_cluster: ClusterInfo
) -> None:
    with env(sqlite_url, admin_client, commander_client) as e:
        ns = e.names[0]
        dep_id = e.create("etl", "LocalExecutor", ns)
        with cluster_support.api_server_down(dev_cluster.data_dir, admin_client):
            job = e.worker.run_once()
            assert job is not None
            assert job.state == "queued", job.last_error  # temporary: retried with backoff
            assert "cannot reach the API server" in job.last_error
        assert e.get(dep_id).status_message.startswith("install attempt 1 failed, retrying at ")

        commander_env.revoke_pool_role(admin_client, commander_client, ns)
        commander_jobs.retry_deployment(e.plat, e.actor, dep_id)  # type: ignore[arg-type]  # now, not after backoff
        job = e.worker.run_once()
        assert job is not None
        assert job.state == "queued", job.last_error
        assert "taken as temporary: the API server was unreachable" in job.last_error
        assert e.get(dep_id).status is DeploymentStatus.DEPLOYING

        commander_env.grant_pool_role(admin_client, ns)
        commander_jobs.retry_deployment(e.plat, e.actor, dep_id)  # type: ignore[arg-type]
        job = e.worker.run_once()
        assert job is not None
        assert job.state == "done", job.last_error
        assert e.get(dep_id).status is DeploymentStatus.HEALTHY


def test_a_403_that_a_fresh_access_review_contradicts_is_temporary(
    admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    errors.forget_unreachable()
    with cluster_support.fresh_namespace(admin_client, prefix="review") as ns:
        with pytest.raises(ApiError) as caught:
            commander_client.list(Secret, namespace=ns).__iter__().__next__()
        refused = caught.value
        assert refused.status.code == 403

        def review(verb: str, resource: str, sub: str, group: str, namespace: str | None) -> bool:
            return preflight.access_allowed(commander_client, verb, resource, sub, group, namespace)

        judged = errors.classify(refused, review=review)
        assert isinstance(judged, errors.ClusterRefused)  # the review agrees: permanent
        commander_env.grant_pool_role(admin_client, ns)  # the permission arrives (an authorizer catching up)
        judged = errors.classify(refused, review=review)
        assert isinstance(judged, errors.TemporaryFailure)
        assert "a fresh access review says commander may list secrets" in str(judged)


def test_a_paused_commander_resumed_after_takeover_leaves_nothing_in_an_offered_namespace(
    tmp_path: Path,
    database_url: str,
    admin_client: lightkube.Client,
    commander_client: lightkube.Client,
    dev_cluster: ClusterInfo,
) -> None:
    """Commander A is stopped (SIGSTOP) while it applies; its lease passes; B takes the install over, the
    Deployment is deleted, B removes its objects and the namespace is offered again; then A resumes. A must not
    write another object: its fence stops it (and says so in its log)."""
    with commander_env.pool_namespace(admin_client) as ns:
        cfg = platform_support.config(pool_names=(ns,), hard_delete=True)
        plat = platform_support.make(database_url, cfg, clock=lambda: datetime.now(UTC))  # A's clock too
        try:
            actor = platform_support.admin(plat)
            ws = workspaces.create(plat, actor, label="data")
            dep = deployments.create(
                plat, actor, workspace_id=ws.id, label="etl", executor="CeleryExecutor", namespace=ns
            )
            values = tmp_path / "values.yaml"
            pools = {"enabled": True, "namespaces": {"create": False, "names": [ns]}}
            values.write_text(yaml.safe_dump({"global": {"features": {"namespacePools": pools}}}))
            log_path = tmp_path / "commander-a.log"
            with log_path.open("wb") as log_file:
                proc = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "airpool"),
                        "commander",
                        "-f",
                        str(values),
                        "--database-url",
                        database_url,
                        "--kubeconfig",
                        str(dev_cluster.commander_kubeconfig),
                        "--lease-seconds",
                        "2",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=log_file,
                )
            try:
                cluster_support.wait_for(
                    lambda: bool(uninstall.remaining(admin_client, ns, dep.id)),
                    timeout=120,
                    interval=0.02,
                    what="the first object of A's install",
                )
                _pause_outside_a_transaction(proc, database_url, dep.id)
                paused_at = len(commander_env.applied_objects(admin_client, ns, dep.id))
                (install_job,) = commander_jobs.for_deployment(plat, dep.id)
                expires = install_job.lease_expires_at
                assert expires is not None
                cluster_support.wait_for(
                    lambda: plat.now() > expires + timedelta(seconds=1), timeout=60, what="A's lease to pass"
                )

                b = worker.Worker(plat, commander_client, settings=worker.WorkerSettings(status_interval=0.3))
                deployments.delete(plat, actor, dep.id)
                taken = b.run_once()  # B takes the install over: the Deployment is deleted meanwhile
                assert taken is not None
                assert (taken.id, taken.state) == (install_job.id, "done"), taken.last_error
                removed = b.run_once()
                assert removed is not None
                assert (removed.kind, removed.state) == ("uninstall", "done"), removed.last_error
                assert pool.available_namespaces(plat) == [ns]
                assert uninstall.remaining(admin_client, ns, dep.id) == []

                proc.send_signal(signal.SIGCONT)
                cluster_support.wait_for(
                    lambda: b"lease lost" in log_path.read_bytes(), timeout=120, what="A to notice its lost lease"
                )
            finally:
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
                proc.wait(timeout=120)
            log = log_path.read_text()
            assert "job leased" in log
            # Writes in flight when A was paused may have landed; A removes what its fence could not stop (they
            # are a deleted Deployment's) before it logs the lost lease. Garbage collection of their pods takes a
            # moment: wait for the condition.
            cluster_support.wait_for(
                lambda: uninstall.remaining(admin_client, ns, dep.id) == [],
                timeout=120,
                what=f"no object of the deleted Deployment in {ns} (A was paused after {paused_at} objects)",
            )
            b.check_pool_health()
            assert pool.available_namespaces(plat) == [ns]
        finally:
            plat.close()


def _database_free(url: str, deployment_id: str) -> bool:
    """Whether nobody holds a write lock the test needs: SQLite's database-wide one, or on PostgreSQL the rows of
    the Deployment and its jobs."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"timeout": 0} if "sqlite" in url else {})
    try:
        with engine.connect() as conn:
            if url.startswith("sqlite"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                params = {"d": deployment_id}
                conn.execute(sa.text("SELECT 1 FROM deployments WHERE id = :d FOR UPDATE NOWAIT"), params)
                conn.execute(sa.text("SELECT 1 FROM commander_jobs WHERE deployment_id = :d FOR UPDATE NOWAIT"), params)
            conn.rollback()
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def _pause_outside_a_transaction(proc: subprocess.Popen[bytes], url: str, deployment_id: str) -> None:
    """SIGSTOP ``proc`` at a moment it holds no database lock. A process stopped inside a write transaction blocks
    every other writer until it resumes (SQLite's lock is the whole file; PostgreSQL keeps an idle transaction's
    row locks): that is the database's behaviour, not commander's, and not what this test is about."""
    for _ in range(200):
        proc.send_signal(signal.SIGSTOP)
        if _database_free(url, deployment_id):
            return
        proc.send_signal(signal.SIGCONT)
    raise AssertionError("commander A always held a database lock when stopped")
