"""``airpool config apply`` of a 100-namespace pool against ``kubectl apply --server-side -f`` of the same file.

Starts a throwaway local control plane (``airpool.devcluster``), renders two pools of the same size under two
release names (so neither run finds the other's objects), and times, as subprocesses the way an admin runs them:
the first apply (everything created) and the second (everything unchanged) of each tool. The ratio is airpool's
time over kubectl's; aim <= 1.0.

    .venv/bin/python bench/config_apply.py [--namespaces 100] [--runs 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from airpool import devcluster

AIRPOOL = str(Path(sys.executable).parent / "airpool")


def values(directory: Path, release: str, count: int) -> Path:
    path = directory / f"{release}.yaml"
    names = [f"{release}-pool-{i}" for i in range(1, count + 1)]
    pools = {"enabled": True, "namespaces": {"create": True, "names": names}}
    path.write_text(
        yaml.safe_dump({"global": {"features": {"namespacePools": pools}}, "airpool": {"releaseName": release}})
    )
    return path


def timed(cmd: list[str], *, stdin: str | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed: {proc.stderr}")
    return elapsed, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1, help="fresh pools per tool (each run adds namespaces)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cluster = devcluster.start(work / "cluster")
        admin = str(cluster.admin_kubeconfig)
        try:
            results: dict[str, list[float]] = {
                "airpool first": [],
                "kubectl first": [],
                "airpool again": [],
                "kubectl again": [],
            }
            objects = 0
            for run in range(args.runs):
                ours = values(work, f"ap{run}", args.namespaces)
                theirs = values(work, f"kc{run}", args.namespaces)
                _, rendered = timed([AIRPOOL, "config", "render", "-f", str(theirs)])
                objects = rendered.count("\n---\n") + 1
                apply_ours = [AIRPOOL, "config", "apply", "-f", str(ours), "--kubeconfig", admin]
                apply_theirs = ["kubectl", "--kubeconfig", admin, "apply", "--server-side", "-f", "-"]
                for label, cmd, stdin in (("airpool", apply_ours, None), ("kubectl", apply_theirs, rendered)):
                    results[f"{label} first"].append(timed(cmd, stdin=stdin)[0])
                    results[f"{label} again"].append(timed(cmd, stdin=stdin)[0])
        finally:
            devcluster.stop(work / "cluster")

    med = {label: statistics.median(times) for label, times in results.items()}
    print(f"pool of {args.namespaces} namespaces: {objects} objects per apply, {args.runs} run(s)")
    for phase in ("first", "again"):
        ours, theirs = med[f"airpool {phase}"], med[f"kubectl {phase}"]
        what = "create everything" if phase == "first" else "all unchanged"
        print(f"{what:18} airpool {ours:6.2f} s   kubectl --server-side {theirs:6.2f} s   ratio {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
