"""Figures of Airflow on the dev cluster's real node: node Ready time, create -> Airflow ``healthy`` per executor
(median of the rounds), the first DAG run's duration, memory of one Deployment per executor, and hard delete ->
namespace offered again.

Starts its own real-node dev cluster (it waits for the machine's node lock like the tests), imports the images
``airpool dev images`` built, serves airpool with commander's own token over one pool namespace per executor, and
runs ``--rounds`` rounds (default 3). Baseline, measured in the same run on the same node: one pod of the same
Airflow image that runs ``airflow version`` (created -> Succeeded), the floor of starting any Airflow process there;
the ratio says what a whole Deployment (database, migrations, five or more components, Airflow's own health) costs
on top. In each round the three executors' Deployments are created at once (a
shared cluster: three tenants at a time; ``--one-at-a-time`` creates them one after another instead), each runs the
smoke DAG once, its memory is read from the kubelet's summary API, and all are hard-deleted. Not a pass/fail test:
it prints the figures (and the machine's load, which dominates them on a 2-core machine).

    .venv/bin/python -m bench.realnode_airflow [--rounds 3] [--one-at-a-time] [--version 3.3.2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod
from tests.support import airflow_realnode as rn
from tests.support.realnode import RealNodeCluster

from airpool import devcluster
from airpool.devcluster import realnode

EXECUTORS = ("LocalExecutor", "CeleryExecutor", "KubernetesExecutor")


def start_node(data_dir: Path, lock_wait: float) -> devcluster.ClusterInfo:
    deadline = time.monotonic() + lock_wait
    while True:
        try:
            return devcluster.start(data_dir, real_node=True, timeout=600, die_with_caller=True)
        except realnode.NodeBusy as busy:
            if time.monotonic() > deadline:
                raise SystemExit(f"waited {lock_wait:.0f} s for the machine's real node: {busy.message}") from None
            time.sleep(5)


def airflow_floor(e: rn.Env, namespace: str, version: str) -> float:
    """Seconds from creating a pod that runs ``airflow version`` in the Airflow image to its success."""
    pod = Pod(
        metadata=ObjectMeta(name="bench-airflow-version", namespace=namespace),
        spec=PodSpec(
            restartPolicy="Never",
            containers=[
                Container(
                    name="airflow",
                    image=f"localhost/airpool/airflow:{version}",
                    imagePullPolicy="Never",
                    args=["airflow", "version"],
                )
            ],
        ),
    )
    started = time.monotonic()
    e.admin.create(pod)
    try:
        while True:
            phase = e.admin.get(Pod, pod.metadata.name, namespace=namespace).status.phase
            if phase in ("Succeeded", "Failed"):
                if phase == "Failed":
                    raise SystemExit("the baseline pod (airflow version) failed")
                return time.monotonic() - started
            time.sleep(0.2)
    finally:
        e.admin.delete(Pod, pod.metadata.name, namespace=namespace, grace_period=0)
        while any(p.metadata.name == pod.metadata.name for p in e.admin.list(Pod, namespace=namespace)):
            time.sleep(0.5)


def one_deployment(e: rn.Env, executor: str, namespace: str, version: str) -> dict[str, float]:
    dep = rn.create(e, executor, namespace, version)
    run = rn.run_dag(e, dep, figure=False)
    memory = rn.memory_mib(e, namespace)
    started = time.monotonic()
    rn.hard_delete_leaves_only_the_pool(e, dep)
    return {
        "create_to_healthy_s": dep.healthy_after,
        "first_dag_run_s": run.seconds,
        "memory_mib": memory,
        "delete_to_offered_s": time.monotonic() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one-at-a-time", action="store_true")
    parser.add_argument("--version", default="3.3.2")
    parser.add_argument("--lock-wait", type=float, default=float(os.environ.get("AIRPOOL_REALNODE_LOCK_WAIT", 3600)))
    args = parser.parse_args()
    reason = realnode.why_not()
    if reason is not None:
        raise SystemExit(realnode.explain(reason))

    results: dict[str, list[dict[str, float]]] = defaultdict(list)
    loads: list[float] = []
    floor = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-realnode-airflow-") as tmp:
        data_dir = Path(tmp) / "cluster"
        cluster = RealNodeCluster(info=start_node(data_dir, args.lock_wait))
        try:
            timings = json.loads((data_dir / "node" / "timings.json").read_text())
            node_ready = float(timings["node_ready_after_kubelet_start_s"])
            with rn.served_pool(cluster, Path(tmp), namespaces=len(EXECUTORS), airflow_versions=(args.version,)) as e:
                floor = statistics.median(airflow_floor(e, e.pool[0], args.version) for _ in range(3))
                for round_no in range(1, args.rounds + 1):
                    loads.append(os.getloadavg()[0])
                    pairs = list(zip(EXECUTORS, e.pool, strict=True))
                    workers = 1 if args.one_at_a_time else len(pairs)
                    with ThreadPoolExecutor(max_workers=workers) as pool:
                        done = pool.map(lambda p: (p[0], one_deployment(e, p[0], p[1], args.version)), pairs)
                        for executor, figures in done:
                            results[executor].append(figures)
                            print(f"round {round_no} {executor}: {json.dumps(figures)}", file=sys.stderr)
                rn.FIGURES.clear()
        finally:
            devcluster.stop(data_dir)

    how = "one at a time" if args.one_at_a_time else f"{len(EXECUTORS)} at once"
    print(f"real node Ready {node_ready:.1f} s after its kubelet started")
    print(f"Airflow {args.version}, {args.rounds} round(s), Deployments created {how}; load 1-min avg {loads}")
    print(f"baseline: a pod running `airflow version` (same image), created -> Succeeded: {floor:.1f} s (median of 3)")
    print(
        f"{'executor':<20} {'create->healthy':>16} {'/ baseline':>10} {'first DAG run':>14} {'memory':>10} "
        f"{'delete->offered':>16}"
    )
    for executor in EXECUTORS:
        rows = results[executor]

        def median(key: str, rows: list[dict[str, float]] = rows) -> float:
            return statistics.median(r[key] for r in rows)

        print(
            f"{executor:<20} {median('create_to_healthy_s'):>14.0f} s {median('create_to_healthy_s') / floor:>9.1f}x "
            f"{median('first_dag_run_s'):>12.0f} s "
            f"{median('memory_mib'):>6.0f} MiB {median('delete_to_offered_s'):>14.0f} s"
        )
        each = ", ".join(f"{r['create_to_healthy_s']:.0f}" for r in rows)
        print(f"{'':<20} (create->healthy of each round: {each} s)")


if __name__ == "__main__":
    main()
