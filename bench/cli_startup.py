"""Wall time of ``airpool --help`` and ``airpool deployment list`` against ``python -c pass`` in the same run.

Usage: ``python bench/cli_startup.py [--runs 10] [--config PATH]``. With ``--config`` (a config file logged in to a
running server, e.g. after ``airpool login``) ``deployment list`` makes its real GraphQL round trip; without it
the command runs against a closed local port, which still pays every import and the connection attempt (it exits
3). Prints the median of each and its ratio to the baseline; aim: under 300 ms.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AIRPOOL = str(Path(sys.executable).parent / "airpool")


def _median_ms(cmd: list[str], *, runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _closed_port_config(folder: Path) -> Path:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = folder / "config.yaml"
    path.write_text(
        f"current-context: bench\ncontexts:\n  bench:\n    server: http://127.0.0.1:{port}\n"
        "    token: bench\n    workspace-id: 00000000-0000-0000-0000-000000000000\n"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--config", type=Path, help="a logged-in airpool config file (real round trip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = args.config or _closed_port_config(Path(tmp))
        env = {**os.environ, "AIRPOOL_CONFIG": str(config)}
        _median_ms([AIRPOOL, "--help"], runs=1, env=env)  # warm the page cache and .pyc files
        baseline = _median_ms([sys.executable, "-c", "pass"], runs=args.runs, env=env)
        figures = {
            "airpool --help": _median_ms([AIRPOOL, "--help"], runs=args.runs, env=env),
            "airpool deployment list": _median_ms([AIRPOOL, "deployment", "list"], runs=args.runs, env=env),
        }
    mode = "real server" if args.config else "closed port (no server)"
    print(f"median of {args.runs} runs; deployment list against: {mode}")
    print(f"{'python -c pass (baseline)':<28} {baseline:7.1f} ms")
    for name, ms in figures.items():
        verdict = "ok" if ms < 300 else "over the 300 ms aim"
        print(f"{name:<28} {ms:7.1f} ms  {ms / baseline:5.1f}x baseline  {verdict}")


if __name__ == "__main__":
    main()
