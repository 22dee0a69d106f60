"""Commander's pool health pass at the scale of thousands, on a throwaway dev cluster.

For each pool size (default 100 and 1,000 namespaces, each prepared as ``airpool config apply`` leaves it:
namespace + commander's Role + RoleBinding) it measures, with commander's own identity:

- the first pass (every namespace new: the full check, leftovers included), as the monitor runs it (verdicts
  recorded as they come: when the first hundred are offered, and when the pass ends), and the same full check of
  every namespace without recording;
- a steady pass as commander runs it, with its watches on the pool (``PoolMonitor.run``): only the round-robin
  tenth whose turn it is gets existence and access checked again and the sixtieth a leftover search, every other
  namespace's watches saw no change; and the steady pass without watches (existence and access for all, leftovers
  for a sixtieth);
- how long a change takes to be noticed: commander's Role in one namespace narrowed, until the namespace is
  recorded misconfigured (the periodic pass an hour away, so only the watches can notice it);
- the baseline of the same run: the check as it ran before, one namespace after the other with every leftover
  list (``health.check`` in a loop), timed on the first 100 namespaces and scaled to the pool;
- a ``kubectl get namespaces`` round trip as the API server's floor.

Ratio = steady pass with watches / sequential full check (lower is better). Goals: 1,000 namespaces < 10 s, 100 <
2 s; a change noticed within seconds.

    .venv/bin/python -m bench.pool_health [--sizes 100,1000] [--parallel 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lightkube
from lightkube import codecs
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from airpool import devcluster
from airpool.commander import health, pool_monitor, worker
from airpool.config.model import PlatformConfig, PoolSettings, PoolSource
from airpool.domain.pool import NamespaceState
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
        rows: list[dict[str, float]] = []
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
                # RBAC of namespaces prepared a moment ago may take a moment to reach the authorizer: the first
                # pass is repeated (untimed) until every namespace is offered, then timed once more from scratch.
                plain = pool_monitor.PoolMonitor(plat, commander, parallel=args.parallel)
                deadline = time.monotonic() + 300
                first_offered_s, first_pass_s = first_pass(plat, plain, min(100, size))
                while len(pool_service.available_namespaces(plat)) < size and time.monotonic() < deadline:
                    plain.run_pass()
                offered = len(pool_service.available_namespaces(plat))
                all_deep = [health.Target(n, leftovers=True) for n in names]
                start = time.perf_counter()
                full = health.check_many(commander, all_deep, parallel=args.parallel)
                full_s = time.perf_counter() - start
                unwatched = [plain.run_pass() for _ in range(3)]
                unwatched_s = statistics.median(r.seconds for r in unwatched)

                watched = pool_monitor.PoolMonitor(plat, commander, parallel=args.parallel)
                start = time.perf_counter()
                watched.start_watch()
                watched.run_pass()  # every namespace once more, now that its watches run
                watch_start_s = time.perf_counter() - start
                steady = [watched.run_pass() for _ in range(5)]
                steady_s = statistics.median(r.seconds for r in steady)
                steady_calls = int(statistics.median(r.api_calls for r in steady))
                notice_s = notice(plat, admin, watched, names[len(names) // 2])

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
                rows.append(
                    {
                        "size": size,
                        "offered": offered,
                        "first_pass_s": first_pass_s,
                        "first_offered_s": first_offered_s,
                        "full_s": full_s,
                        "full_calls": full.api_calls,
                        "unwatched_s": unwatched_s,
                        "unwatched_calls": unwatched[1].api_calls,
                        "steady_s": steady_s,
                        "steady_calls": steady_calls,
                        "watch_start_s": watch_start_s,
                        "notice_s": notice_s,
                        "seq_s": seq_s,
                        "kubectl_s": kubectl_s,
                    }
                )
                plat.close()
        finally:
            devcluster.stop(work / "cluster")

    print(f"pool health pass, commander's identity, {args.parallel} namespaces at once ({load()})")
    for r in rows:
        print(
            f"  {r['size']:6d} namespaces ({r['offered']} offered): steady pass with watches {r['steady_s']:6.2f} s "
            f"({r['steady_calls']} requests), without {r['unwatched_s']:6.2f} s ({r['unwatched_calls']} requests); "
            f"first pass (every namespace new, recorded) {r['first_pass_s']:6.2f} s, its first "
            f"{min(100, int(r['size']))} offered after {r['first_offered_s']:5.2f} s; full check of every namespace "
            f"{r['full_s']:6.2f} s ({r['full_calls']} requests); watches started + one pass "
            f"{r['watch_start_s']:6.2f} s; Role edit noticed in {r['notice_s']:5.2f} s; sequential full check "
            f"(before) {r['seq_s']:7.2f} s; ratio steady/before {r['steady_s'] / r['seq_s']:.3f}; kubectl get "
            f"namespaces {r['kubectl_s']:.2f} s"
        )


def first_pass(plat: platform.Platform, monitor: pool_monitor.PoolMonitor, first: int) -> tuple[float, float]:
    """The monitor's first pass over a pool of new namespaces: seconds until ``first`` of them are offered (the
    pass records its verdicts as they come), and until the pass ends."""
    offered_at: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if len(pool_service.available_namespaces(plat)) >= first:
                offered_at.append(time.perf_counter())
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    start = time.perf_counter()
    watcher.start()
    monitor.run_pass()
    end = time.perf_counter()
    done.set()
    watcher.join()
    return (offered_at[0] if offered_at else end) - start, end - start


def notice(plat: platform.Platform, admin: lightkube.Client, monitor: pool_monitor.PoolMonitor, name: str) -> float:
    """Seconds from narrowing commander's Role in ``name`` to the namespace recorded misconfigured, with the monitor
    (its watches running) as commander runs it, its next periodic pass an hour away; the Role is restored after."""
    passes = monitor._passes
    stop = threading.Event()
    thread = threading.Thread(target=monitor.run, args=(stop,), kwargs={"interval": 3600}, daemon=True)
    thread.start()

    def state() -> NamespaceState:
        return next(ns.state for ns in pool_service.status(plat, worker.SYSTEM_ACTOR) if ns.name == name)

    try:
        while monitor._passes == passes:  # its first pass (a steady one) done
            time.sleep(0.1)
        role = pool.commander_role_name(CONFIG)
        narrowed = tuple(r for r in rbac.COMMANDER_NAMESPACE_RULES if r.resources != ("pods",))
        start = time.perf_counter()
        admin.apply(
            codecs.from_dict(pool.role(CONFIG, role, name, narrowed)),
            field_manager=kube_client.ADMIN_FIELD_MANAGER,
            force=True,
        )
        while state() is not NamespaceState.MISCONFIGURED:
            if time.perf_counter() - start > 300:
                raise SystemExit(f"the Role edit in {name} was not noticed within 300 s")
            time.sleep(0.05)
        return time.perf_counter() - start
    finally:
        prepare_role(admin, name)
        stop.set()
        thread.join(60)


def prepare_role(admin: lightkube.Client, name: str) -> None:
    role = pool.commander_role_name(CONFIG)
    admin.apply(
        codecs.from_dict(pool.role(CONFIG, role, name, rbac.COMMANDER_NAMESPACE_RULES)),
        field_manager=kube_client.ADMIN_FIELD_MANAGER,
        force=True,
    )


if __name__ == "__main__":
    main()
