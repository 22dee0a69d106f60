"""The airpool CLI against Helm on the same dev cluster, in the same run.

- ``airpool deployment list`` (one Deployment) against ``helm list`` (one release), median of ``--runs``;
- ``airpool deployment delete NAME --hard --yes --wait`` against ``helm uninstall --wait`` of a release holding the
  same Deployment's objects (rendered by airpool's manifests, installed with ``helm install`` into a pool
  namespace of its own; not ``--wait``: Helm waits for PersistentVolumeClaims to bind, which the dev cluster's
  fake nodes never do), one Deployment each, ``--deletes`` rounds.

airpool runs as ``airpool serve`` with its in-process commander (dev cluster, kwok nodes); Helm is the binary
``scripts/setup.sh`` builds into ``~/.cache/airpool/k8s/helm-*`` (or ``--helm PATH``). Without it the Helm
baseline is skipped with a note. Goals: list within 2x Helm's; delete --wait faster than helm uninstall --wait.

    .venv/bin/python -m bench.cli_vs_helm [--runs 10] [--deletes 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from tests.support import cli, commander_env
from tests.support.api_server import PASSWORD, serve_process

from airpool import devcluster
from airpool.kube import client as kube_client
from airpool.manifests.airflow import render, settings
from airpool.manifests.airflow.spec import AirflowSpec

CHART = """apiVersion: v2
name: airflow-objects
version: 0.1.0
"""
TEMPLATE = '{{ .Files.Get "objects.yaml" }}\n'


def find_helm(given: str | None) -> str | None:
    if given:
        return given
    cached = sorted((Path.home() / ".cache" / "airpool" / "k8s").glob("helm-*/bin/helm"))
    return str(cached[-1]) if cached else shutil.which("helm")


def chart_for(directory: Path, namespace: str) -> Path:
    """A chart whose only template is the objects airpool renders for one Deployment in ``namespace``."""
    spec = AirflowSpec(deployment_id="helm-bench", release_name="helm-bench", namespace=namespace)
    objects = render.render(spec, settings.secrets_from_existing(spec, {}))
    chart = directory / f"chart-{namespace}"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART)
    (chart / "objects.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    (chart / "templates" / "objects.yaml").write_text(TEMPLATE)
    return chart


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed: {proc.stderr or proc.stdout}")
    return took


def cli_seconds(config: Path, *args: str) -> float:
    start = time.perf_counter()
    result = cli.run(config, *args, timeout=600)
    took = time.perf_counter() - start
    if result.code != 0:
        raise SystemExit(f"airpool {' '.join(args)} failed: {result.err}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--deletes", type=int, default=3)
    parser.add_argument("--helm", default=None)
    args = parser.parse_args()
    helm = find_helm(args.helm)
    one, five, _ = os.getloadavg()
    print(f"CLI against Helm ({os.cpu_count()} cores, load average {one:.1f} / {five:.1f})", flush=True)

    with tempfile.TemporaryDirectory(prefix="airpool-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        cluster = devcluster.start(work / "cluster")
        stack.callback(devcluster.stop, work / "cluster")
        admin = kube_client.connect(cluster.admin_kubeconfig, field_manager=kube_client.ADMIN_FIELD_MANAGER)
        names = [stack.enter_context(commander_env.pool_namespace(admin)) for _ in range(args.deletes + 1)]
        values = work / "values.yaml"
        values.write_text(
            "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n"
            f"        create: false\n        names: [{', '.join(names)}]\n"
            "astronomer:\n  houston:\n    config:\n      deployments:\n        hardDeleteDeployment: true\n"
            f"airpool:\n  dataDir: {work / 'data'}\n"
        )
        served = stack.enter_context(
            serve_process(
                values=values,
                database_url=f"sqlite:///{work / 'airpool.db'}",
                extra_args=["--migrate"],
                env={
                    "AIRPOOL_ADMIN_USERNAME": "admin",
                    "AIRPOOL_ADMIN_PASSWORD": PASSWORD,
                    "AIRPOOL_COMMANDER_KUBECONFIG": str(cluster.commander_kubeconfig),
                },
                commander=True,
            )
        )
        config = cli.login(work / "cli" / "config.yaml", served.base, username="admin", password=PASSWORD)
        deadline = time.monotonic() + 300
        while True:  # commander's first health check offers the namespaces
            status = json.loads(cli.run(config, "pool", "status", "-o", "json").out)
            if sum(1 for n in status["namespaces"] if n["state"] == "available") == len(names):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"pool not offered after 300 s: {status}")
            time.sleep(1)

        kube_env = {**os.environ, "KUBECONFIG": str(cluster.admin_kubeconfig)}
        helm_ns = [stack.enter_context(commander_env.pool_namespace(admin)) for _ in range(args.deletes + 1)]
        ours_delete, helm_delete = [], []
        for i in range(args.deletes):
            cli_seconds(config, "deployment", "create", "-l", f"bench{i}", "-n", names[i], "--wait")
            if helm:
                chart = chart_for(work, helm_ns[i])
                timed([helm, "install", f"bench{i}", str(chart), "-n", helm_ns[i]], kube_env)
        # list: one live Deployment / one release.
        cli_seconds(config, "deployment", "create", "-l", "listed", "-n", names[-1], "--wait")
        ours_list = [cli_seconds(config, "deployment", "list") for _ in range(args.runs)]
        helm_list: list[float] = []
        if helm:
            chart = chart_for(work, helm_ns[-1])
            timed([helm, "install", "listed", str(chart), "-n", helm_ns[-1]], kube_env)
            helm_list = [timed([helm, "list", "-n", helm_ns[-1]], kube_env) for _ in range(args.runs)]
        for i in range(args.deletes):
            ours_delete.append(cli_seconds(config, "deployment", "delete", f"bench{i}", "--hard", "--yes", "--wait"))
            if helm:
                helm_delete.append(timed([helm, "uninstall", f"bench{i}", "-n", helm_ns[i], "--wait"], kube_env))

    med = statistics.median
    if helm:
        print(
            f"  list:   airpool deployment list {med(ours_list):.3f} s | helm list {med(helm_list):.3f} s | "
            f"ratio {med(ours_list) / med(helm_list):.2f}x (goal <= 2)"
        )
        print(
            f"  delete: airpool deployment delete --hard --wait {med(ours_delete):.3f} s | helm uninstall --wait "
            f"{med(helm_delete):.3f} s | ratio {med(ours_delete) / med(helm_delete):.2f}x (goal < 1)"
        )
        # Each round's pair (a loaded machine makes single figures jump): airpool/helm, in the order they ran.
        pairs = ", ".join(f"{a:.2f}/{h:.2f}" for a, h in zip(ours_delete, helm_delete, strict=True))
        print(f"          each round, airpool/helm s: {pairs}")
    else:
        print("  no helm binary found (scripts/setup.sh builds one into ~/.cache/airpool/k8s): baseline skipped")
        print(f"  list: airpool deployment list {med(ours_list):.3f} s; delete --wait {med(ours_delete):.3f} s")


if __name__ == "__main__":
    main()
