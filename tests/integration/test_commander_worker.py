"""The commander worker end to end: Deployments created through the services (real SQLite database), jobs
leased and carried out on the real API server with commander's own token, results visible on the Deployment
and the pool."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lightkube
import pytest
import yaml
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from airpool.commander import specs, uninstall, worker
from airpool.devcluster import ClusterInfo
from airpool.domain.deployments import DeploymentStatus
from airpool.domain.pool import NamespaceState
from airpool.manifests import pool as pool_manifests
from airpool.manifests.airflow import render
from airpool.manifests.airflow import settings as settings_mod
from airpool.services import commander_jobs, deployments, pool, workspaces
from airpool.services.platform import Platform
from tests.support import cluster as cluster_support
from tests.support import commander_env, fake_nodes
from tests.support import platform as platform_support

pytestmark = pytest.mark.slow


@dataclass
class Env:
    plat: Platform
    actor: object
    workspace_id: str
    names: tuple[str, ...]
    worker: worker.Worker

    def create(self, label: str, executor: str, namespace: str) -> str:
        dep = deployments.create(
            self.plat,
            self.actor,  # type: ignore[arg-type]
            workspace_id=self.workspace_id,
            label=label,
            executor=executor,
            namespace=namespace,
        )
        return dep.id

    def get(self, dep_id: str) -> deployments.views.DeploymentView:
        return deployments.get(self.plat, self.actor, dep_id)  # type: ignore[arg-type]

    def state(self, name: str) -> NamespaceState:
        return next(ns.state for ns in pool.status(self.plat, self.actor) if ns.name == name)  # type: ignore[arg-type]


@contextlib.contextmanager
def env(
    sqlite_url: str,
    admin: lightkube.Client,
    commander: lightkube.Client,
    *,
    count: int = 1,
    hard_delete: bool = True,
    prepared: bool = True,
) -> Iterator[Env]:
    with contextlib.ExitStack() as stack:
        names = tuple(
            stack.enter_context(commander_env.pool_namespace(admin))
            if prepared
            else stack.enter_context(cluster_support.fresh_namespace(admin, prefix="pool"))
            for _ in range(count)
        )
        plat = platform_support.make(sqlite_url, platform_support.config(pool_names=names, hard_delete=hard_delete))
        stack.callback(plat.close)
        actor = platform_support.admin(plat)
        ws = workspaces.create(plat, actor, label="data")
        settings = worker.WorkerSettings(lease_seconds=30, status_interval=0.3, healthy_timeout=90)
        yield Env(plat, actor, ws.id, names, worker.Worker(plat, commander, settings=settings))


def test_create_runs_to_healthy_and_hard_delete_returns_the_namespace(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with env(sqlite_url, admin_client, commander_client) as e:
        ns = e.names[0]
        dep_id = e.create("etl", "CeleryExecutor", ns)
        assert e.state(ns) is NamespaceState.CLAIMED
        job = e.worker.run_once()
        assert job is not None
        assert job.state == "done", job.last_error
        dep = e.get(dep_id)
        assert dep.status is DeploymentStatus.HEALTHY, dep.status_message
        assert {u.type for u in dep.urls} == {"airflow", "flower"}

        deployments.delete(e.plat, e.actor, dep_id)  # type: ignore[arg-type]
        assert e.state(ns) is NamespaceState.RELEASING
        job = e.worker.run_once()
        assert job is not None
        assert job.state == "done", job.last_error
        assert uninstall.remaining(admin_client, ns, dep_id) == []
        assert e.state(ns) is NamespaceState.AVAILABLE
        assert ns in pool.available_namespaces(e.plat)
        name = pool_manifests.commander_role_name(commander_env.CONFIG)
        admin_client.get(Role, name, namespace=ns)
        admin_client.get(RoleBinding, name, namespace=ns)


def test_a_held_namespace_removed_from_the_pool_is_cleaned_kept_and_retired_on_release(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    """The admin shrinks the pool while a Deployment holds a namespace: its release still removes only the
    Deployment's objects (the namespace is the admin's, never commander's to delete) and then retires it."""
    with env(sqlite_url, admin_client, commander_client, count=2) as e:
        ns, other = e.names
        dep_id = e.create("etl", "LocalExecutor", ns)
        assert e.worker.run_once() is not None
        platform_support.with_pool(e.plat, (other,))
        deployments.delete(e.plat, e.actor, dep_id)  # type: ignore[arg-type]
        job = e.worker.run_once()
        assert job is not None
        assert job.state == "done", job.last_error
        assert uninstall.remaining(admin_client, ns, dep_id) == []
        assert e.state(ns) is NamespaceState.RETIRED
        assert admin_client.get(lightkube.resources.core_v1.Namespace, ns).status.phase == "Active"  # type: ignore[union-attr]


def test_soft_delete_removes_the_workloads_and_retains_the_namespace(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with env(sqlite_url, admin_client, commander_client, hard_delete=False) as e:
        ns = e.names[0]
        dep_id = e.create("etl", "LocalExecutor", ns)
        assert e.worker.run_once() is not None
        deployments.delete(e.plat, e.actor, dep_id)  # type: ignore[arg-type]
        job = e.worker.run_once()
        assert job is not None
        assert job.state == "done", job.last_error
        assert uninstall.remaining(admin_client, ns, dep_id) == []
        assert e.state(ns) is NamespaceState.RETAINED
        assert ns not in pool.available_namespaces(e.plat)


def test_option2_role_fails_with_the_missing_permissions_then_a_retry_succeeds(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with env(sqlite_url, admin_client, commander_client, prepared=False) as e:
        ns = e.names[0]
        commander_env.grant_guide_role(admin_client, ns)
        dep_id = e.create("etl", "KubernetesExecutor", ns)
        job = e.worker.run_once()
        assert job is not None
        assert job.state == "failed"
        dep = e.get(dep_id)
        assert dep.status is DeploymentStatus.FAILED
        assert f"create pods/exec (core) in namespace {ns}" in dep.status_message
        assert uninstall.remaining(admin_client, ns, dep_id) == []

        commander_env.grant_pool_role(admin_client, ns)  # the admin fixes commander's access
        commander_jobs.request(e.plat, kind=commander_jobs.JobKind.INSTALL, deployment_id=dep_id, namespace=ns)
        job = e.worker.run_once()
        assert job is not None
        assert job.state == "done", job.last_error
        assert e.get(dep_id).status is DeploymentStatus.HEALTHY


def test_a_namespace_deleted_outside_airpool_turns_misconfigured_and_is_not_offered(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with env(sqlite_url, admin_client, commander_client, count=2) as e:
        broken, fine = e.names
        e.worker.check_pool_health()
        assert e.state(broken) is NamespaceState.AVAILABLE
        admin_client.delete(lightkube.resources.core_v1.Namespace, broken)
        e.worker.check_pool_health()
        assert e.state(broken) is NamespaceState.MISCONFIGURED
        assert e.state(fine) is NamespaceState.AVAILABLE
        assert pool.available_namespaces(e.plat) == [fine]
        reason = next(ns.health_reason for ns in pool.status(e.plat, e.actor) if ns.name == broken)  # type: ignore[arg-type]
        assert broken in reason

        # The admin recreates it with commander's Role: the next check offers it again.
        cluster_support.wait_for(
            lambda: not commander_env.namespace_exists(admin_client, broken), timeout=60, what="namespace gone"
        )
        admin_client.create(lightkube.resources.core_v1.Namespace(metadata=ObjectMeta(name=broken)))
        commander_env.grant_pool_role(admin_client, broken)
        cluster_support.wait_for(
            lambda: (e.worker.check_pool_health(), e.state(broken))[1] is NamespaceState.AVAILABLE,
            timeout=120,
            what="the fixed namespace to become available",
        )
        assert pool.available_namespaces(e.plat) == sorted([broken, fine])


def test_a_worker_killed_mid_install_is_taken_over_without_duplicates_or_orphans(
    tmp_path: Path, admin_client: lightkube.Client, commander_client: lightkube.Client, dev_cluster: ClusterInfo
) -> None:
    url = f"sqlite:///{tmp_path / 'airpool.db'}"
    clock = platform_support.Clock()
    with commander_env.pool_namespace(admin_client) as ns:
        cfg = platform_support.config(pool_names=(ns,), hard_delete=True)
        plat = platform_support.make(url, cfg, clock=clock)
        try:
            actor = platform_support.admin(plat)
            ws = workspaces.create(plat, actor, label="data")
            dep = deployments.create(
                plat, actor, workspace_id=ws.id, label="etl", executor="CeleryExecutor", namespace=ns
            )
            values = tmp_path / "values.yaml"
            pools = {"enabled": True, "namespaces": {"create": False, "names": [ns]}}
            values.write_text(yaml.safe_dump({"global": {"features": {"namespacePools": pools}}}))
            proc = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "airpool"),
                    "commander",
                    "-f",
                    str(values),
                    "-f",
                    str(fake_nodes.overlay(tmp_path)),
                    "--database-url",
                    url,
                    "--kubeconfig",
                    str(dev_cluster.commander_kubeconfig),
                    "--lease-seconds",
                    "2",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                cluster_support.wait_for(
                    lambda: bool(uninstall.remaining(admin_client, ns, dep.id)),
                    timeout=60,
                    interval=0.02,
                    what="the first object of the install",
                )
            finally:
                proc.send_signal(signal.SIGKILL)
                _, err = proc.communicate(timeout=30)
            assert b"job leased" in err
            partial = commander_env.applied_objects(admin_client, ns, dep.id)
            (job,) = commander_jobs.for_deployment(plat, dep.id)
            assert job.state == "running"  # the dead worker's lease is still on it

            clock.value = datetime.now(UTC) + timedelta(seconds=5)  # past the dead worker's lease
            settings = worker.WorkerSettings(lease_seconds=30, status_interval=0.3, healthy_timeout=90)
            taken = worker.Worker(plat, commander_client, settings=settings).run_once()
            assert taken is not None
            assert taken.id == job.id
            assert taken.state == "done", taken.last_error
            assert taken.attempts == 2
            assert deployments.get(plat, actor, dep.id).status is DeploymentStatus.HEALTHY

            spec = specs.airflow_spec(
                cfg,
                deployment_id=dep.id,
                release_name=dep.release_name,
                namespace=ns,
                executor=dep.executor.value,
                airflow_version=dep.airflow_version,
                workspace_id=ws.id,
            )
            expected = {
                f"{o['kind']} {o['metadata']['name']}"
                for o in render.render(spec, settings_mod.secrets_from_existing(spec, {}))
            }
            applied = commander_env.applied_objects(admin_client, ns, dep.id)
            assert applied == expected  # nothing missing, nothing extra (no orphan, no second set)
            assert partial <= expected
        finally:
            plat.close()


def test_a_pod_crashing_after_the_install_turns_the_deployment_unhealthy(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with env(sqlite_url, admin_client, commander_client) as e:
        ns = e.names[0]
        dep_id = e.create("etl", "LocalExecutor", ns)
        job = e.worker.run_once()
        assert job is not None
        assert e.get(dep_id).status is DeploymentStatus.HEALTHY
        assert e.worker.refresh_statuses() == 0
        crashed = commander_env.crash_pod(admin_client, ns, "scheduler")
        assert e.worker.refresh_statuses() == 1
        dep = e.get(dep_id)
        assert dep.status is DeploymentStatus.UNHEALTHY
        assert dep.status_message == f"pod {crashed} container scheduler: CrashLoopBackOff"


def test_the_in_process_worker_of_serve_runs_jobs_until_stopped(
    sqlite_url: str, admin_client: lightkube.Client, dev_cluster: ClusterInfo, commander_client: lightkube.Client
) -> None:
    import airpool.commander

    with env(sqlite_url, admin_client, commander_client) as e:
        dep_id = e.create("etl", "KubernetesExecutor", e.names[0])
        handle = airpool.commander.start_worker(e.plat, kubeconfig=dev_cluster.commander_kubeconfig)
        try:
            cluster_support.wait_for(
                lambda: e.get(dep_id).status is DeploymentStatus.HEALTHY, timeout=60, what="healthy via the worker"
            )
        finally:
            handle.stop(timeout=60)
        assert not handle.alive


@pytest.mark.postgres
def test_soft_delete_keeps_the_database_until_the_retention_ends_then_purge_drops_it(
    sqlite_url: str, postgres_admin_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    from airpool.commander import database
    from airpool.services import cleanup

    clock = platform_support.Clock()
    with commander_env.pool_namespace(admin_client) as ns:
        cfg = platform_support.config(pool_names=(ns,), hard_delete=False, retention_days=14)
        cfg = dataclasses.replace(cfg, airflow=dataclasses.replace(cfg.airflow, database_admin_url=postgres_admin_url))
        plat = platform_support.make(sqlite_url, cfg, clock=clock)
        try:
            actor = platform_support.admin(plat)
            ws = workspaces.create(plat, actor, label="data")
            dep = deployments.create(
                plat, actor, workspace_id=ws.id, label="etl", executor="LocalExecutor", namespace=ns
            )
            w = worker.Worker(plat, commander_client, settings=worker.WorkerSettings(status_interval=0.3))
            assert w.run_once() is not None
            db = database.external_database(postgres_admin_url, dep.release_name)
            assert database.exists(postgres_admin_url, db)

            deployments.delete(plat, actor, dep.id)
            job = w.run_once()
            assert job is not None
            assert job.state == "done", job.last_error
            assert uninstall.remaining(admin_client, ns, dep.id) == []
            assert database.exists(postgres_admin_url, db)  # soft delete: the data is kept

            clock.advance(days=15)
            cleanup.run(plat)
            job = w.run_once()
            assert job is not None
            assert (job.kind, job.state) == ("purge", "done"), job.last_error
            assert not database.exists(postgres_admin_url, db)
            # offered again only now, on commander's own check after the purge
            assert ns in pool.available_namespaces(plat)
        finally:
            plat.close()


def test_the_first_pool_health_check_runs_when_the_worker_starts_whatever_the_uptime(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    """A freshly booted machine has a small ``time.monotonic()``: the first check must not wait for the interval
    to pass since boot. An interval longer than this machine's uptime shows it on any machine."""
    import threading
    import time

    from airpool.services import platform as platform_mod
    from airpool.services import schema

    with commander_env.pool_namespace(admin_client) as ns:
        interval = int(time.monotonic()) + 3600
        cfg = dataclasses.replace(platform_support.config(pool_names=(ns,)), health_check_interval=interval)
        schema.upgrade(sqlite_url)
        plat = platform_mod.connect(cfg, url=sqlite_url, clock=platform_support.Clock())
        try:
            pool.sync(plat)  # as serve and commander start: the new name waits for commander's first check
            assert pool.awaiting_first_check(plat) == [ns]
            stop = threading.Event()
            w = worker.Worker(plat, commander_client, settings=worker.WorkerSettings(poll_interval=0.1))
            thread = threading.Thread(target=w.run, args=(stop,), daemon=True)
            thread.start()
            try:
                cluster_support.wait_for(
                    lambda: pool.available_namespaces(plat) == [ns], timeout=120, what=f"{ns} checked and offered"
                )
            finally:
                stop.set()
                thread.join(60)
        finally:
            plat.close()
