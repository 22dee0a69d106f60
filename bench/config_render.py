"""Time of ``config render`` for a large pool: load + validate + render + YAML, in process and as the CLI.

Usage: ``python bench/config_render.py [--namespaces 1000] [--runs 5]``. The baseline, measured in the same run,
is serializing the very same objects with PyYAML's default (pure-Python) ``safe_dump_all``, what a straightforward
tool would pay just to print them; airpool's whole path (validation and rendering included) is compared to it.
The CLI figure is the wall time of ``airpool config render -f`` (start-up included) against ``python -c pass``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from airpool import config
from airpool.manifests import pool, yaml_text

AIRPOOL = str(Path(sys.executable).parent / "airpool")


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespaces", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        values = Path(tmp) / "values.yaml"
        names = [f"airflow-pool-{i}" for i in range(1, args.namespaces + 1)]
        pools = {"enabled": True, "namespaces": {"create": True, "names": names}}
        values.write_text(yaml.safe_dump({"global": {"features": {"namespacePools": pools}}}))

        def full() -> str:
            return yaml_text.dump_all(pool.render(config.load([values])))

        objects = pool.render(config.load([values]))
        output = full()
        baseline = median_ms(lambda: yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True), args.runs)
        total = median_ms(full, args.runs)
        load_only = median_ms(lambda: config.load([values]), args.runs)
        cli = median_ms(
            lambda: subprocess.run([AIRPOOL, "config", "render", "-f", str(values)], capture_output=True, check=True),
            args.runs,
        )
        python = median_ms(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), args.runs)

    print(f"pool of {args.namespaces} namespaces: {len(objects)} objects, {len(output) / 1e6:.1f} MB of YAML")
    print(f"load+validate              {load_only:8.1f} ms")
    print(f"load+validate+render+YAML  {total:8.1f} ms")
    print(f"baseline: safe_dump_all only  {baseline:8.1f} ms   ratio {total / baseline:.2f}")
    print(f"CLI airpool config render  {cli:8.1f} ms   (python -c pass: {python:.1f} ms)")


if __name__ == "__main__":
    main()
