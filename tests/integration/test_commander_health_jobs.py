"""Health work never delays install and uninstall jobs: commander's pool health passes run in a thread of their own,
so a job queued while a long pass is running is leased and carried out before that pass ends."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import lightkube
import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from prometheus_client import REGISTRY

from airpool.commander import kinds, worker
from airpool.domain.deployments import DeploymentStatus
from airpool.domain.pool import NamespaceState
from airpool.manifests.airflow import common
from airpool.services import commander_jobs, deployments, platform, pool, schema, views, workspaces
from tests.support import cluster as cluster_support
from tests.support import commander_env
from tests.support import platform as platform_support

pytestmark = pytest.mark.slow

#: Pool namespaces every pass checks in full: each holds an object of a former Deployment, so it stays
#: misconfigured and is searched again every pass (19 requests each), passes following each other at once.
BUSY = 40


def leftover(namespace: str) -> ConfigMap:
    labels = {common.MANAGED_BY: common.MANAGED_BY_VALUE, common.DEPLOYMENT_LABEL: "dep-former"}
    return ConfigMap(metadata=ObjectMeta(name="former-config", namespace=namespace, labels=labels))


def test_install_and_uninstall_jobs_are_leased_and_run_while_a_long_health_pass_is_running(
    sqlite_url: str, admin_client: lightkube.Client, commander_client: lightkube.Client
) -> None:
    with contextlib.ExitStack() as stack:
        target = stack.enter_context(commander_env.pool_namespace(admin_client))
        prepared = [commander_env.pool_namespace(admin_client) for _ in range(BUSY)]
        with ThreadPoolExecutor(max_workers=8) as prepare:
            entered = [prepare.submit(cm.__enter__) for cm in prepared]
        for cm, future in zip(prepared, entered, strict=True):
            if future.exception() is None:
                stack.push(cm)  # deleted at the end
        busy = tuple(future.result() for future in entered)
        for name in busy:
            admin_client.create(leftover(name))
        cfg = platform_support.config(pool_names=(target, *busy), hard_delete=True)
        schema.upgrade(sqlite_url)
        plat = platform.connect(dataclasses.replace(cfg, health_check_interval=1), url=sqlite_url)
        pool.sync(plat)  # every name new: commander's first pass checks each in full
        stack.callback(plat.close)
        actor = platform_support.admin(plat)
        ws = workspaces.create(plat, actor, label="data")
        settings = worker.WorkerSettings(lease_seconds=30, poll_interval=0.1, status_interval=0.3, healthy_timeout=90)
        w = worker.Worker(plat, commander_client, settings=settings)
        # One namespace at a time: a pass as long as a big pool's against a busy API server.
        w.monitor.parallel = 1
        stop = threading.Event()
        thread = threading.Thread(target=w.run, args=(stop,), daemon=True)
        thread.start()
        stack.callback(thread.join, 60)
        stack.callback(stop.set)

        def state(name: str) -> NamespaceState:
            return pool.status_of(plat, actor, name).state

        cluster_support.wait_for(
            lambda: (
                [state(n) for n in (target, *busy)]
                == [NamespaceState.AVAILABLE] + [NamespaceState.MISCONFIGURED] * BUSY
            ),
            timeout=180,
            what="the first pass to find the former Deployment's objects",
        )
        full = 2 + len(kinds.NAMESPACED_KINDS)

        def during_a_pass(queue: Callable[[], str], kind: str) -> tuple[float, float]:
            """Queue a job as a pass starts; the job is leased before that pass ends. Returns the seconds from
            queueing to the lease and to the job's end."""
            before = w.monitor.passes_started
            cluster_support.wait_for(
                lambda: w.monitor.passes_started > before, timeout=120, interval=0.01, what="the next pass"
            )
            running = w.monitor.passes_started
            queued = time.monotonic()
            dep_id = queue()

            def job() -> views.JobView | None:
                jobs = [j for j in commander_jobs.for_deployment(plat, dep_id) if j.kind == kind]
                return jobs[-1] if jobs else None

            def leased() -> bool:
                found = job()
                return found is not None and found.attempts > 0

            cluster_support.wait_for(leased, timeout=120, interval=0.01, what=f"the {kind} job leased")
            lease_s = time.monotonic() - queued
            gauge = REGISTRY.get_sample_value("airpool_pool_health_pass_running")
            assert w.monitor.passes_done < running, f"the {kind} job waited for the health pass to end"
            assert gauge == 1  # read while that pass was still running
            cluster_support.wait_for(
                lambda: (found := job()) is not None and found.state == "done", timeout=180, what=f"the {kind} job"
            )
            return lease_s, time.monotonic() - queued

        created: list[str] = []

        def create() -> str:
            dep = deployments.create(
                plat, actor, workspace_id=ws.id, label="etl", executor="LocalExecutor", namespace=target
            )
            created.append(dep.id)
            return dep.id

        def delete() -> str:
            deployments.delete(plat, actor, created[0])
            return created[0]

        install = during_a_pass(create, "install")
        assert deployments.get(plat, actor, created[0]).status is DeploymentStatus.HEALTHY
        uninstall = during_a_pass(delete, "uninstall")
        cluster_support.wait_for(
            lambda: state(target) is NamespaceState.AVAILABLE, timeout=120, what=f"{target} offered again"
        )
        print(
            f"install leased {install[0]:.2f} s after queueing, done after {install[1]:.2f} s; uninstall leased "
            f"{uninstall[0]:.2f} s, done {uninstall[1]:.2f} s; {w.monitor.passes_done} passes of {BUSY + 1} "
            f"namespaces done meanwhile ({full} requests each for the {BUSY} misconfigured ones)"
        )
