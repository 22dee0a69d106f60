"""Do pool health passes delay commander's jobs? Install and uninstall of one Deployment on the dev cluster, each
timed with the commander worker alone (baseline) and with its pool health passes running back to back over many
misconfigured namespaces (each holds an object of a former Deployment, so every pass checks each in full, 19
requests), alternating, in the same run: as commander runs them (while a job runs, two checks at a time:
``health.GATE``) and with that gate open (16 at a time throughout, as before it).

Ratio = with passes / alone (1.0: the passes cost the jobs nothing). The jobs are leased at once either way
(``tests/integration/test_commander_health_jobs.py``); this measures how long they then take.

    .venv/bin/python -m bench.health_and_jobs [--busy 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lightkube
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from tests.support import platform as platform_support

from airpool import devcluster
from airpool.commander import health, worker
from airpool.kube import client as kube_client
from airpool.manifests.airflow import common
from airpool.services import commander_jobs, deployments, platform, pool, schema, workspaces
from airpool.services.access import Actor
from bench.pool_health import load, prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--busy", type=int, default=200, help="misconfigured pool namespaces every pass checks")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    timings: dict[str, list[tuple[float, float]]] = {"alone": [], "passes": [], "ungated": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cluster = devcluster.start(work / "cluster")
        try:
            admin = kube_client.connect(cluster.admin_kubeconfig, field_manager=kube_client.ADMIN_FIELD_MANAGER)
            commander = kube_client.connect(
                cluster.commander_kubeconfig, field_manager=kube_client.COMMANDER_FIELD_MANAGER
            )
            target, busy = "hj-target", [f"hj-{i:05d}" for i in range(args.busy)]
            with ThreadPoolExecutor(max_workers=16) as ex:
                list(ex.map(lambda n: prepare(admin, n), [target, *busy]))
            labels = {common.MANAGED_BY: common.MANAGED_BY_VALUE, common.DEPLOYMENT_LABEL: "dep-former"}
            for name in busy:
                admin.create(ConfigMap(metadata=ObjectMeta(name="former", namespace=name, labels=labels)))
            url = f"sqlite:///{work / 'jobs.db'}"
            schema.upgrade(url)
            cfg = platform_support.config(pool_names=(target, *busy), hard_delete=True)
            plat = platform.connect(dataclasses.replace(cfg, health_check_interval=1), url=url)
            pool.sync(plat)
            actor = platform_support.admin(plat)
            ws = workspaces.create(plat, actor, label="bench")
            # RBAC of namespaces prepared a moment ago reaches the authorizer a moment later
            deadline = time.monotonic() + 300
            while target not in pool.available_namespaces(plat) and time.monotonic() < deadline:
                verdict = health.check(commander, target)
                pool.record_health(plat, target, ok=verdict.ok, reason=verdict.reason or "")
            gated = health.GATE.while_jobs
            for run in range(args.runs):
                for mode in timings:
                    health.GATE.while_jobs = health.DEFAULT_PARALLEL if mode == "ungated" else gated
                    timings[mode].append(one(plat, commander, actor, ws.id, target, f"r{run}{mode[0]}", mode))
            health.GATE.while_jobs = gated
            plat.close()
        finally:
            devcluster.stop(work / "cluster")

    def median(mode: str, i: int) -> float:
        return statistics.median(t[i] for t in timings[mode])

    print(f"commander jobs with pool health passes over {args.busy} namespaces running, {args.runs} runs ({load()})")
    for i, what in enumerate(("install (to healthy)", "uninstall")):
        alone, passes, ungated = median("alone", i), median("passes", i), median("ungated", i)
        print(
            f"  {what:20s} alone {alone:5.2f} s | with passes {passes:5.2f} s, ratio {passes / alone:.2f}x | gate "
            f"open {ungated:5.2f} s, ratio {ungated / alone:.2f}x"
        )


def one(
    plat: platform.Platform,
    commander: lightkube.Client,
    actor: Actor,
    workspace: str,
    target: str,
    label: str,
    mode: str,
) -> tuple[float, float]:
    """One install and uninstall; ``mode`` "alone" runs the worker without its health passes, else with them."""
    settings = worker.WorkerSettings(
        lease_seconds=30, poll_interval=0.1, status_interval=0.3, healthy_timeout=90, periodic=mode != "alone"
    )
    w = worker.Worker(plat, commander, settings=settings)
    stop = threading.Event()
    thread = threading.Thread(target=w.run, args=(stop,), daemon=True)
    thread.start()
    try:
        while mode != "alone" and w.monitor.passes_done < 1:
            time.sleep(0.05)
        start = time.monotonic()
        dep = deployments.create(
            plat, actor, workspace_id=workspace, label=label, executor="LocalExecutor", namespace=target
        )

        def done(kind: str) -> bool:
            jobs = [j for j in commander_jobs.for_deployment(plat, dep.id) if j.kind == kind]
            return bool(jobs) and jobs[-1].state == "done"

        while not done("install"):
            time.sleep(0.02)
        installed = time.monotonic()
        deployments.delete(plat, actor, dep.id)
        while not done("uninstall"):
            time.sleep(0.02)
        uninstalled = time.monotonic()
        while target not in pool.available_namespaces(plat):
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(60)
    return installed - start, uninstalled - installed


if __name__ == "__main__":
    main()
