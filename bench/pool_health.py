"""Commander's pool health pass at the scale of thousands, on a throwaway dev cluster.

For each pool size (default 100 and 1,000 namespaces, each prepared as ``airpool config apply`` leaves it:
namespace + commander's Role + RoleBinding) it measures, with commander's own identity:

- the first pass (every namespace new: the full check, leftovers included) and a steady pass (existence and
  access for all, leftovers for a tenth), as ``Worker.check_pool_health`` runs them (checks + one recording
  transaction);
- the baseline of the same run: the check as it ran before, one namespace after the other with every leftover
  list (``health.check`` in a loop), timed on the first 100 namespaces and scaled to the pool;
- a ``kubectl get namespaces`` round trip as the API server's floor.

Ratio = steady pass / sequential full check (lower is better). Goals: 1,000 namespaces < 10 s, 100 < 2 s.

    .venv/bin/python -m bench.pool_health [--sizes 100,1000] [--parallel 16]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lightkube
from lightkube import codecs
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from airpool import devcluster
from airpool.commander import health, pool_monitor
from airpool.config.model import PlatformConfig, PoolSettings, PoolSource
from airpool.kube import client as kube_client
from airpool.manifests import pool, rbac
from airpool.services import platform, schema
from airpool.services import pool as pool_service

CONFIG = PlatformConfig()


def prepare(admin: lightkube.Client, name: str) -> None:
    admin.create(Namespace(metadata=ObjectMeta(name=name)))
    role = pool.commander_role_name(CONFIG)
    for obj in (pool.role(CONFIG, role, name, rbac.COMMANDER_NAMESPACE_RULES), pool.role_binding(CONFIG, role, name)):
        admin.apply(codecs.from_dict(obj), field_manager=kube_client.ADMIN_FIELD_MANAGER, force=True)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--parallel", type=int, default=health.DEFAULT_PARALLEL)
    parser.add_argument("--baseline", type=int, default=100, help="namespaces the sequential baseline checks")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cluster = devcluster.start(work / "cluster")
        rows = []
        try:
            admin = kube_client.connect(cluster.admin_kubeconfig, field_manager=kube_client.ADMIN_FIELD_MANAGER)
            commander = kube_client.connect(
                cluster.commander_kubeconfig, field_manager=kube_client.COMMANDER_FIELD_MANAGER
            )
            made = 0
            names: list[str] = []
            for size in sorted(sizes):
                todo = [f"hc-{i:05d}" for i in range(made, size)]
                with ThreadPoolExecutor(max_workers=16) as ex:
                    list(ex.map(lambda n: prepare(admin, n), todo))
                names += todo
                made = size
                url = f"sqlite:///{work / f'health-{size}.db'}"
                schema.upgrade(url)
                settings = PoolSettings(
                    names=tuple(names), create_namespaces=False, create_rbac=False, source=PoolSource.STANDARD
                )
                plat = platform.connect(PlatformConfig(pool=settings), url=url)
                pool_service.sync(plat)
                monitor = pool_monitor.PoolMonitor(plat, commander, parallel=args.parallel)
                # RBAC of namespaces prepared a moment ago may take a moment to reach the authorizer: the first
                # pass is repeated (untimed) until every namespace is offered, then timed once more from scratch.
                deadline = time.monotonic() + 300
                first = monitor.run_pass()
                while len(pool_service.available_namespaces(plat)) < size and time.monotonic() < deadline:
                    first = monitor.run_pass()
                offered = len(pool_service.available_namespaces(plat))
                all_deep = [health.Target(n, leftovers=True) for n in names]
                start = time.perf_counter()
                full = health.check_many(commander, all_deep, parallel=args.parallel)
                full_s = time.perf_counter() - start
                steady = [monitor.run_pass() for _ in range(3)]
                steady_s = sorted(r.seconds for r in steady)[1]
                sample = names[: args.baseline]
                start = time.perf_counter()
                for n in sample:
                    health.check(commander, n)
                seq_s = (time.perf_counter() - start) * size / len(sample)
                start = time.perf_counter()
                subprocess.run(
                    ["kubectl", "--kubeconfig", str(cluster.admin_kubeconfig), "get", "namespaces", "-o", "name"],
                    check=True,
                    capture_output=True,
                )
                kubectl_s = time.perf_counter() - start
                rows.append((size, offered, full_s, full.api_calls, steady_s, steady[1].api_calls, seq_s, kubectl_s))
                plat.close()
                del first
        finally:
            devcluster.stop(work / "cluster")

    print(f"pool health pass, commander's identity, {args.parallel} namespaces at once ({load()})")
    for size, offered, full_s, full_calls, steady_s, steady_calls, seq_s, kubectl_s in rows:
        print(
            f"  {size:6d} namespaces ({offered} offered): full check {full_s:6.2f} s ({full_calls} requests)  "
            f"steady pass {steady_s:6.2f} s ({steady_calls} requests)  sequential full check (before) "
            f"{seq_s:7.2f} s  ratio steady/before {steady_s / seq_s:.3f}  kubectl get namespaces {kubectl_s:.2f} s"
        )


if __name__ == "__main__":
    main()
