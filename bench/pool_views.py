"""Pool views with a 10,000-namespace pool, each against a baseline measured the same way in the same run.

One real ``airpool serve`` process (SQLite, no commander) per step; every figure is a whole HTTP request (p50 of
``--runs``) or a whole process:

- ``serve`` ready (process start to ``/healthz``, pool sync of every new name included) with 10,000 names, and
  again with the same 10,000 (restart: nothing to change), against a 3-name pool;
- ``poolStatus`` first page (100 rows), the UI Pool page and the New Deployment page (a search field above 100
  free namespaces), against the UI Deployments list page (the goal: each under 5x);
- ``airpool pool status`` (first 100) against ``airpool deployment list``, as processes.

    .venv/bin/python -m bench.pool_views [--names 10000] [--runs 20]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from tests.support import cli
from tests.support.api_server import PASSWORD, GraphQL, airpool_executable, serve_process

from airpool.devcluster.processes import free_port
from airpool.services import schema

POOL_PAGE = "query { poolStatus(take: 100) { total counts { state count } namespaces { name state since } } }"


def values(directory: Path, names: int) -> Path:
    path = directory / f"values-{names}.yaml"
    listed = "\n".join(f"          - ns-{i:05d}" for i in range(names))
    path.write_text(
        "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n"
        f"        create: true\n        names:\n{listed}\n"
    )
    return path


def serve_ready_seconds(directory: Path, url: str, names: int) -> float:
    """Start ``airpool serve --no-commander`` and time it until ``/healthz`` answers (pool sync included), then stop
    it. Commander's first health check is not part of it: it runs beside the serving process."""
    port = free_port()
    env = {**os.environ, "AIRPOOL_DATABASE_URL": url}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [airpool_executable(), "serve", "-f", str(values(directory, names)), "--port", str(port), "--no-commander"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"airpool serve exited with {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


@contextlib.contextmanager
def serving(directory: Path, url: str, names: int) -> Iterator[str]:
    """A serve process (no commander; commander's first check played in one transaction); yields its base URL."""
    env = {"AIRPOOL_ADMIN_USERNAME": "bench", "AIRPOOL_ADMIN_PASSWORD": PASSWORD}
    with serve_process(values=values(directory, names), database_url=url, env=env) as served:
        yield served.base


def p50_ms(fn: Callable[[], object], runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def ui_session(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=True)
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)})
    return client


def cli_seconds(config: Path, *args: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = cli.run(config, *args)
        times.append(time.perf_counter() - t0)
        assert result.code == 0, result
    return statistics.median(times)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(f"pool views, {args.names} namespaces ({load()})", flush=True)
    with tempfile.TemporaryDirectory(prefix="airpool-bench-") as tmp:
        directory = Path(tmp)
        small_url = f"sqlite:///{directory / 'small.db'}"
        schema.upgrade(small_url)
        small_ready = serve_ready_seconds(directory, small_url, 3)
        url = f"sqlite:///{directory / 'big.db'}"
        schema.upgrade(url)
        first_ready = serve_ready_seconds(directory, url, args.names)
        again_ready = serve_ready_seconds(directory, url, args.names)
        print(
            f"  serve ready: {args.names} new names {first_ready:.2f} s, restart with the same names "
            f"{again_ready:.2f} s | 3 names {small_ready:.2f} s | ratio {first_ready / small_ready:.2f}x / "
            f"{again_ready / small_ready:.2f}x",
            flush=True,
        )
        with serving(directory, url, args.names) as base:
            admin = GraphQL(base).login("bench")
            workspace = admin.data("{ workspaces { id } }")["workspaces"][0]["id"]
            headers = {"authorization": admin.token or ""}
            api = httpx.Client(base_url=base, timeout=60, headers=headers)
            ui = ui_session(base)
            deployments_page = p50_ms(lambda: ui.get(f"/w/{workspace}/deployments").raise_for_status(), args.runs)
            figures = {
                "poolStatus first page (100)": p50_ms(
                    lambda: api.post("/v1", json={"query": POOL_PAGE}).raise_for_status(), args.runs
                ),
                "UI Pool page": p50_ms(lambda: ui.get("/admin/pool").raise_for_status(), args.runs),
                "UI New Deployment page": p50_ms(
                    lambda: ui.get(f"/w/{workspace}/deployments/new").raise_for_status(), args.runs
                ),
                "UI namespace search (q=ns-0999)": p50_ms(
                    lambda: ui.get(f"/w/{workspace}/namespaces", params={"q": "ns-0999"}).raise_for_status(),
                    args.runs,
                ),
            }
            sizes = {
                "UI Pool page": len(ui.get("/admin/pool").content),
                "UI New Deployment page": len(ui.get(f"/w/{workspace}/deployments/new").content),
            }
            for name, ms in figures.items():
                size = f", {sizes[name] / 1024:.0f} KiB" if name in sizes else ""
                print(
                    f"  {name:<34} p50 {ms:7.1f} ms{size} | Deployments list page {deployments_page:6.1f} ms | "
                    f"ratio {ms / deployments_page:.2f}x",
                    flush=True,
                )
            config = directory / "cli" / "config.yaml"
            cli.login(config, base, username="bench", password=PASSWORD)
            listing = cli_seconds(config, "deployment", "list")
            status = cli_seconds(config, "pool", "status")
            print(
                f"  airpool pool status (first 100) {status:.2f} s | airpool deployment list {listing:.2f} s | "
                f"ratio {status / listing:.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
