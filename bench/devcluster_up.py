"""How long ``airpool dev up`` takes with binaries cached, and how much memory the control plane holds.

Runs ``airpool dev up`` / ``dev down`` N times (default 5), each in a fresh data directory, and reports the
median wall time of ``dev up`` (a subprocess, as a user runs it). Baseline, measured in the same run: etcd plus
kube-apiserver alone, started together with the very same flags and files, until ``/readyz`` answers: the floor
any control plane on this machine pays. The ratio says what the rest (controller manager, scheduler, kwok,
bootstrap, fake nodes Ready, the CLI's own start-up) adds on top.

Also prints the resident memory (VmRSS) of each component a few seconds after start, and the cold build times
recorded by ``airpool dev build`` (``build.json`` in each cache directory) when there are any.

    .venv/bin/python bench/devcluster_up.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from airpool.devcluster import binaries, processes

AIRPOOL = str(Path(sys.executable).parent / "airpool")


def _airpool(*args: str) -> None:
    subprocess.run([AIRPOOL, "dev", *args], check=True, capture_output=True, text=True)


def _pids(data_dir: Path) -> dict[str, int]:
    return {path.stem: int(path.read_text().split()[0]) for path in (data_dir / "run").glob("*.pid")}


def _argv(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ready(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0, context=context) as response:
            return int(response.status) == 200
    except OSError:
        return False


def _floor(argv: dict[str, list[str]], server: str) -> float:
    """Start etcd and kube-apiserver with the argv dev up used; seconds until /readyz answers."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    started = time.monotonic()
    children = [
        subprocess.Popen(argv[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name in ("etcd", "kube-apiserver")
    ]
    try:
        while not _ready(f"{server}/readyz", context):
            time.sleep(0.05)
        return time.monotonic() - started
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds idle before reading memory")
    args = parser.parse_args()
    binaries.require_all()

    ups: list[float] = []
    floors: list[float] = []
    rss: dict[str, float] = {}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="airpool-bench-") as tmp:
            data_dir = Path(tmp) / "devcluster"
            started = time.monotonic()
            _airpool("up", "--data-dir", str(data_dir))
            ups.append(time.monotonic() - started)
            pids = _pids(data_dir)
            argv = {name: _argv(pid) for name, pid in pids.items()}
            if run == 0:
                time.sleep(args.settle)
                rss = {name: _rss_mib(pid) for name, pid in pids.items()}
            server = json.loads((data_dir / "cluster.json").read_text())["ports"]["apiserver"]
            _airpool("down", "--data-dir", str(data_dir))
            while not processes.port_is_free(server):
                time.sleep(0.05)
            floors.append(_floor(argv, f"https://127.0.0.1:{server}"))
        print(f"run {run + 1}: dev up {ups[-1]:.2f} s, etcd+apiserver alone {floors[-1]:.2f} s", flush=True)

    up, floor = statistics.median(ups), statistics.median(floors)
    print(f"\ndev up (binaries cached, fresh data dir), median of {args.runs}: {up:.2f} s")
    print(f"baseline etcd + kube-apiserver ready, median of {args.runs}: {floor:.2f} s")
    print(f"ratio dev up / baseline: {up / floor:.2f}x")
    print(f"\nresident memory {args.settle:.0f} s after dev up:")
    for name, mib in sorted(rss.items(), key=lambda item: -item[1]):
        print(f"  {name:<24} {mib:7.1f} MiB")
    print(f"  {'total':<24} {sum(rss.values()):7.1f} MiB")

    print("\ncold build times recorded by `airpool dev build`:")
    records = sorted(binaries.k8s_cache_root().glob("*/build.json"))
    for record in records:
        for name, entry in json.loads(record.read_text()).items():
            print(f"  {name:<24} {entry['seconds']:7.0f} s  ({entry['version']}, {entry['go']})")
    if not records:
        print("  none recorded (binaries were built outside `airpool dev build`)")


if __name__ == "__main__":
    main()
