"""Wall time of ``airpool --help`` and ``airpool deployment list`` against ``python -c pass`` in the same run.

Usage: ``python -m bench.cli_startup [--runs 10] [--no-server]``. By default it starts ``airpool serve`` (temporary
SQLite database, a pool of two namespaces, no commander), logs in and creates one Deployment, so ``deployment
list`` makes its real GraphQL round trip. ``--no-server`` points the command at a closed local port instead: every
import and the connection attempt, without the server's share (it exits 3). Prints the median of each command and
its ratio to the baseline; aim: under 300 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def _server_config(folder: Path) -> Iterator[Path]:
    """A config file logged in to a fresh ``airpool serve`` that holds one Deployment."""
    from tests.support.api_server import PASSWORD, serve_process

    values = folder / "values.yaml"
    values.write_text(
        "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n"
        f"        create: true\n        names: [bench-a, bench-b]\nairpool:\n  dataDir: {folder / 'data'}\n"
    )
    config = folder / "config.yaml"
    env = {"AIRPOOL_ADMIN_USERNAME": "admin", "AIRPOOL_ADMIN_PASSWORD": PASSWORD}
    with serve_process(
        values=values, database_url=f"sqlite:///{folder / 'airpool.db'}", extra_args=["--migrate"], env=env
    ) as served:
        base = served.base
        cli_env = {**os.environ, "AIRPOOL_CONFIG": str(config), "AIRPOOL_PASSWORD": PASSWORD}
        for args in (["login", base, "-u", "admin"], ["deployment", "create", "-l", "bench", "-n", "bench-a"]):
            subprocess.run([AIRPOOL, *args], env=cli_env, check=True, stdout=subprocess.DEVNULL)
        yield config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-server", action="store_true", help="run deployment list against a closed port")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        config = _closed_port_config(folder) if args.no_server else stack.enter_context(_server_config(folder))
        env = {**os.environ, "AIRPOOL_CONFIG": str(config)}
        _median_ms([AIRPOOL, "--help"], runs=1, env=env)  # warm the page cache and .pyc files
        baseline = _median_ms([sys.executable, "-c", "pass"], runs=args.runs, env=env)
        figures = {
            "airpool --help": _median_ms([AIRPOOL, "--help"], runs=args.runs, env=env),
            "airpool deployment list": _median_ms([AIRPOOL, "deployment", "list"], runs=args.runs, env=env),
        }
    mode = "closed port (no server)" if args.no_server else "airpool serve on SQLite (real round trip)"
    print(f"median of {args.runs} runs; deployment list against: {mode}")
    print(f"{'python -c pass (baseline)':<28} {baseline:7.1f} ms")
    for name, ms in figures.items():
        verdict = "ok" if ms < 300 else "over the 300 ms aim"
        print(f"{name:<28} {ms:7.1f} ms  {ms / baseline:5.1f}x baseline  {verdict}")


if __name__ == "__main__":
    main()
