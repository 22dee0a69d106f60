"""Commander on the dev cluster: create -> all objects applied, create -> healthy (median of N), 20 Deployments
created at once, and the apply phase against ``kubectl apply --server-side -f`` of the same rendered objects.

Starts a throwaway local control plane (``airpool.devcluster``). Every measured create goes into a fresh pool
namespace (commander's Role applied as admin beforehand) and uses commander's own token. The kubectl baseline
applies the same objects (rendered for its own fresh namespace) with the same identity and field manager, as a
subprocess the way an operator would run it. Ratio = commander's apply phase / kubectl's; aim <= 1.0.

    .venv/bin/python -m bench.commander_apply [--runs 10] [--concurrent 20] [--executor CeleryExecutor]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lightkube
import yaml
from lightkube import codecs
from lightkube.models.core_v1 import NodeSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Node
from tests.support import fake_nodes

from airpool import devcluster
from airpool.commander import errors, install, preflight, status, uninstall, worker
from airpool.config.model import DeploymentSettings, PlatformConfig, PoolSettings, PoolSource
from airpool.domain.deployments import DeploymentStatus, Executor
from airpool.kube import client as kube_client
from airpool.manifests import pool, rbac
from airpool.manifests.airflow import render, settings
from airpool.manifests.airflow.spec import AirflowSpec
from airpool.services import auth, deployments, platform, schema, workspaces
from airpool.services import pool as pool_service

CONFIG = PlatformConfig()


def prepare(admin: lightkube.Client, name: str) -> None:
    """A pool namespace the way ``airpool config apply`` leaves it."""
    admin.create(Namespace(metadata=ObjectMeta(name=name)))
    role = pool.commander_role_name(CONFIG)
    for obj in (pool.role(CONFIG, role, name, rbac.COMMANDER_NAMESPACE_RULES), pool.role_binding(CONFIG, role, name)):
        admin.apply(codecs.from_dict(obj), field_manager=kube_client.ADMIN_FIELD_MANAGER, force=True)


def add_fake_nodes(admin: lightkube.Client, count: int) -> None:
    """More kwok nodes (copies of the dev cluster's first one): the bench runs more pods than two nodes hold."""
    template = admin.get(Node, "kwok-node-0")
    for i in range(count):
        name = f"kwok-bench-{i}"
        node = Node(
            metadata=ObjectMeta(
                name=name,
                annotations=template.metadata.annotations,
                labels={**(template.metadata.labels or {}), "kubernetes.io/hostname": name},
            ),
            spec=NodeSpec(),
            status=template.status,
        )
        admin.create(node)


def uninstall_timed(commander: lightkube.Client, s: AirflowSpec) -> float:
    start = time.perf_counter()
    uninstall.uninstall(commander, namespace=s.namespace, deployment_id=s.deployment_id)
    return time.perf_counter() - start


def spec(namespace: str, executor: Executor, n: int) -> AirflowSpec:
    return AirflowSpec(
        deployment_id=f"bench-{n}", release_name=f"bench-{n}", namespace=namespace, executor=executor, **fake_nodes.SPEC
    )


def install_when_ready(commander: lightkube.Client, s: AirflowSpec) -> install.InstallResult:
    """RBAC of a namespace prepared a moment ago may take a few ms to reach the authorizer: retry those refusals
    (not timed as commander's work: the clock starts with the successful attempt's preflight in practice). A
    temporary failure (an API server too loaded to answer in time) is retried as commander's worker retries it;
    the install is idempotent."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return install.install(commander, s)
        except (errors.PermissionsMissing, errors.ClusterRefused):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        except errors.TemporaryFailure as exc:
            if time.monotonic() > deadline + 120:
                raise
            print(f"  {s.namespace}: retrying after a temporary failure: {exc}", flush=True)
            time.sleep(1)


def wait_rbac(commander: lightkube.Client, s: AirflowSpec) -> None:
    needs = preflight.needs(s, manage_namespace=False)
    deadline = time.monotonic() + 10
    while preflight.missing(commander, s.namespace, needs):
        if time.monotonic() > deadline:
            raise SystemExit(f"commander's Role in {s.namespace} never took effect")
        time.sleep(0.05)


def wait_healthy(commander: lightkube.Client, s: AirflowSpec, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while status.check(commander, s, read_health_endpoint=False).status is not DeploymentStatus.HEALTHY:
        if time.monotonic() > deadline:
            report = status.check(commander, s, read_health_endpoint=False)
            raise SystemExit(f"{s.namespace} not healthy after {timeout} s: {report.message}")
        time.sleep(0.1)


def create_to_healthy(commander: lightkube.Client, s: AirflowSpec) -> tuple[float, float]:
    """Timed from the install call; the namespace's RBAC (prepared a moment ago) is awaited before the clock."""
    wait_rbac(commander, s)
    start = time.perf_counter()
    install_when_ready(commander, s)
    applied = time.perf_counter() - start
    wait_healthy(commander, s)
    return applied, time.perf_counter() - start


def through_the_queue(
    work: Path,
    admin: lightkube.Client,
    commander: lightkube.Client,
    executor: Executor,
    *,
    runs: int,
    batch: int,
    concurrency: int,
) -> tuple[list[float], float]:
    """The product path: services create (claim + job) -> workers lease -> healthy, with the workers in
    background threads as ``airpool serve`` runs them. ``runs`` one after the other (each hard-deleted after),
    then ``batch`` created at once."""
    singles = tuple(f"queue-{i}" for i in range(runs))
    many = tuple(f"queue-batch-{i}" for i in range(batch))
    for name in singles + many:
        prepare(admin, name)
    pools = PoolSettings(names=singles + many, create_namespaces=False, create_rbac=False, source=PoolSource.STANDARD)
    cfg = PlatformConfig(
        pool=pools,
        deployments=DeploymentSettings(hard_delete=True),
        health_check_interval=3600,
        airflow=fake_nodes.AIRFLOW,
    )
    url = f"sqlite:///{work / 'queue.db'}"
    schema.upgrade(url)
    plat = platform.connect(cfg, url=url)
    pool_service.sync(plat)
    actor = auth.authenticate(plat, auth.signup(plat, username="bench", password="bench-password-1").token)
    ws = workspaces.create(plat, actor, label="bench")
    for name in singles + many:
        wait_rbac(commander, spec(name, executor, 0))

    def create(name: str) -> str:
        made = deployments.create(plat, actor, workspace_id=ws.id, label=name, executor=executor.value, namespace=name)
        return made.id

    def healthy(ids: list[str], start: float) -> None:
        while any(deployments.get(plat, actor, i).status is not DeploymentStatus.HEALTHY for i in ids):
            if time.perf_counter() - start > 300:
                raise SystemExit("Deployments not healthy through the queue after 300 s")
            time.sleep(0.05)

    handle = worker.start(plat, commander, concurrency=concurrency)
    times = []
    try:
        # Today's rule: a pool name is offered only once commander's health check verified it, and the worker
        # runs its first check as it starts. Wait for that (not timed), then measure.
        deadline = time.perf_counter() + 300
        while set(pool_service.available_namespaces(plat)) != set(singles + many):
            if time.perf_counter() > deadline:
                waiting = sorted(set(singles + many) - set(pool_service.available_namespaces(plat)))
                raise SystemExit(f"pool namespaces not offered after 300 s: {waiting}")
            time.sleep(0.1)
        for name in singles:
            start = time.perf_counter()
            dep_id = create(name)
            healthy([dep_id], start)
            times.append(time.perf_counter() - start)
            deployments.delete(plat, actor, dep_id)
        start = time.perf_counter()
        healthy([create(name) for name in many], start)
        batch_wall = time.perf_counter() - start
    finally:
        handle.stop(timeout=120)
        plat.close()
    return times, batch_wall


def kubectl_apply(kubeconfig: Path, path: Path) -> float:
    cmd = [
        "kubectl",
        "--kubeconfig",
        str(kubeconfig),
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager",
        kube_client.COMMANDER_FIELD_MANAGER,
        "-f",
        str(path),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"kubectl apply failed: {proc.stderr}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4, help="worker threads for the job-queue measurements")
    parser.add_argument("--executor", default=Executor.CELERY.value, choices=[e.value for e in Executor])
    args = parser.parse_args()
    executor = Executor(args.executor)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cluster = devcluster.start(work / "cluster")
        try:
            admin = kube_client.connect(cluster.admin_kubeconfig, field_manager=kube_client.ADMIN_FIELD_MANAGER)
            commander = kube_client.connect(
                cluster.commander_kubeconfig, field_manager=kube_client.COMMANDER_FIELD_MANAGER
            )
            add_fake_nodes(admin, 4)
            n = 0

            # 1. create -> applied and create -> healthy, one Deployment at a time.
            applied_times, healthy_times, removed_times = [], [], []
            for _ in range(args.runs):
                n += 1
                prepare(admin, f"single-{n}")
                one = spec(f"single-{n}", executor, n)
                a, h = create_to_healthy(commander, one)
                applied_times.append(a)
                healthy_times.append(h)
                removed_times.append(uninstall_timed(commander, one))

            # 2. the apply phase alone: commander's waved parallel apply vs kubectl, same objects, fresh namespaces.
            ours_first, ours_again, kc_first, kc_again = [], [], [], []
            objects_count = 0
            for _ in range(args.runs):
                n += 1
                ns_ours, ns_kc = f"ours-{n}", f"kubectl-{n}"
                prepare(admin, ns_ours)
                prepare(admin, ns_kc)
                s_ours, s_kc = spec(ns_ours, executor, n), spec(ns_kc, executor, n)
                objs_ours = render.render(s_ours, settings.secrets_from_existing(s_ours, {}))
                objs_kc = render.render(s_kc, settings.secrets_from_existing(s_kc, {}))
                objects_count = len(objs_ours)
                path = work / f"{ns_kc}.yaml"
                path.write_text(yaml.safe_dump_all(objs_kc, sort_keys=False))
                for ready in (s_ours, s_kc):
                    wait_rbac(commander, ready)
                start = time.perf_counter()
                install.apply_all(commander, objs_ours)
                ours_first.append(time.perf_counter() - start)
                start = time.perf_counter()
                install.apply_all(commander, objs_ours)
                ours_again.append(time.perf_counter() - start)
                kc_first.append(kubectl_apply(cluster.commander_kubeconfig, path))
                kc_again.append(kubectl_apply(cluster.commander_kubeconfig, path))
                uninstall.uninstall(commander, namespace=ns_ours, deployment_id=s_ours.deployment_id)
                uninstall.uninstall(commander, namespace=ns_kc, deployment_id=s_kc.deployment_id)

            # 2b. the product path: services create (claim + job) -> worker leases -> healthy, with the worker in a
            # background thread as `airpool serve` runs it. Removed (hard delete) after each run.
            queue_times, queue_batch = through_the_queue(
                work, admin, commander, executor, runs=args.runs, batch=args.concurrent, concurrency=args.workers
            )

            # 3. N Deployments created at once.
            batch = []
            for _ in range(args.concurrent):
                n += 1
                prepare(admin, f"batch-{n}")
                batch.append(spec(f"batch-{n}", executor, n))
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.concurrent) as pool_:
                per = list(pool_.map(lambda s: create_to_healthy(commander, s), batch))
            batch_wall = time.perf_counter() - start
        finally:
            devcluster.stop(work / "cluster")

    med = statistics.median
    print(f"executor {executor.value}: {objects_count} objects per Deployment, {args.runs} runs (medians)")
    print(f"  create -> all objects applied : {med(applied_times):6.3f} s")
    print(f"  create -> healthy             : {med(healthy_times):6.3f} s")
    print(f"  delete -> namespace clean     : {med(removed_times):6.3f} s")
    print(f"  through the job queue (services create -> worker -> healthy): {med(queue_times):6.3f} s")
    print(
        f"  through the job queue, {args.concurrent} created at once, {args.workers} workers: all healthy in "
        f"{queue_batch:6.3f} s"
    )
    print(
        f"  apply phase, first (created)  : commander {med(ours_first):6.3f} s  kubectl {med(kc_first):6.3f} s"
        f"  ratio {med(ours_first) / med(kc_first):.2f}"
    )
    print(
        f"  apply phase, again (no change): commander {med(ours_again):6.3f} s  kubectl {med(kc_again):6.3f} s"
        f"  ratio {med(ours_again) / med(kc_again):.2f}"
    )
    print(
        f"  {args.concurrent} Deployments at once: all healthy in {batch_wall:6.3f} s "
        f"(per Deployment: applied median {med([a for a, _ in per]):.3f} s, healthy median "
        f"{med([h for _, h in per]):.3f} s, slowest {max(h for _, h in per):.3f} s)"
    )


if __name__ == "__main__":
    main()
