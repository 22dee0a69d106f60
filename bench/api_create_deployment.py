"""createDeployment over HTTP: latency p50/p99 and throughput at concurrency 1, 16 and 64, on SQLite and PostgreSQL,
against a trivial ``appConfig { version }`` query measured the same way in the same run (the server answers it from
memory, as it does for the astro CLI; also measured executed every time, the ratio being then the cost of the
claim transaction beyond HTTP + GraphQL), and ``appConfig`` against a bare JSON endpoint of the same ASGI stack
(``bench/bare_app.py``: Starlette under uvicorn, no GraphQL, auth or database); then createDeployment on PostgreSQL
behind ``serve --workers 2`` against one process; then ``availableNamespaces`` latency with a 10,000-namespace pool.

Each database gets one real ``airpool serve`` process (no commander). Run from the repository root:

    .venv/bin/python -m bench.api_create_deployment [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from tests.support.api_server import PASSWORD, GraphQL, serve_process
from tests.support.postgres import postgres_server
from tests.support.sockets import connections_per_process

from airpool.devcluster.processes import free_port
from airpool.services import schema

CREATE = """
mutation($label: String!, $ws: Uuid!) {
  createDeployment(label: $label, workspaceUuid: $ws, executor: LocalExecutor) { id }
}"""
APP_CONFIG = "query AppConfig { appConfig { version } }"
#: Creates sent to each server before anything is measured.
WARM_UP = 200
AVAILABLE = "query availableNamespaces { availableNamespaces { name } }"


@dataclass(frozen=True)
class Result:
    p50_ms: float
    p99_ms: float
    per_second: float
    errors: int
    #: CPU time the server's processes spent per request (user + system): unlike throughput on a 2-core machine
    #: that also runs PostgreSQL and the load generator, it barely moves when the machine is busy.
    cpu_ms: float = 0.0
    #: Cores the whole machine kept busy meanwhile (server, PostgreSQL, load generator, anything else running).
    busy_cores: float = 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its living descendants (``serve --workers``' processes), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                total += _cpu_seconds(int(child))
    return total


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat (idle and iowait count as not busy)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    clock = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - ticks[3] - ticks[4]) / clock, sum(ticks) / clock


def _record_spread(into: list[list[int]], base: str, expected: int) -> None:
    """How the ``expected`` just opened connections are spread over the server processes (before the clock starts).
    With ``serve --workers`` the parent hands each new connection to the next process; a kept-alive one stays there.
    A connection the parent has not accepted yet is held by no process: wait (10 s at most) until all are."""
    deadline = time.monotonic() + 10
    while True:
        counts = connections_per_process(urlsplit(base).port or 80)
        if sum(counts.values()) >= expected or time.monotonic() > deadline:
            into.append(sorted(counts.values(), reverse=True))
            return
        time.sleep(0.05)


def _run(pid: int, base: str, token: str, **load: Any) -> Result:
    """``_load`` against the server ``pid``, with the server's CPU per request and the machine's busy cores."""
    before, (busy_before, _) = _cpu_seconds(pid), _machine_busy()
    began = time.perf_counter()
    result = asyncio.run(_load(base, token, **load))
    took = time.perf_counter() - began
    spent, (busy_after, _) = _cpu_seconds(pid) - before, _machine_busy()
    return dataclasses.replace(
        result, cpu_ms=spent * 1000 / load["count"], busy_cores=(busy_after - busy_before) / took
    )


async def _load(
    base: str,
    token: str,
    *,
    query: str,
    variables: Any,
    count: int,
    concurrency: int,
    when_open: Callable[[], None] | None = None,
) -> Result:
    """``count`` POSTs to ``{base}/v1`` over ``concurrency`` keep-alive connections, each sending its next request
    when the last one's answer is in. The client is raw asyncio streams with the requests encoded up front: httpx
    needed more CPU per request than the server's appConfig (at concurrency 64 the client was at 77% of a core and
    the server at 12%), so its figures were the load generator's, not the server's."""
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    errors = 0
    queue = iter(range(count))

    def request(i: int) -> bytes:
        body = json.dumps({"query": query, "variables": variables(i) if callable(variables) else variables}).encode()
        head = (
            f"POST /v1 HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: {token}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    requests = [request(i) for i in range(count)]
    warm = request(0) if not callable(variables) else None

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
        writer.write(data)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        return await reader.readexactly(length)

    async def connection(opened: asyncio.Event, ready: list[int]) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        if warm is not None:
            await exchange(reader, writer, warm)
        ready.append(1)
        if len(ready) == concurrency:
            opened.set()
        await opened.wait()
        for i in queue:
            started = time.perf_counter()
            answer = await exchange(reader, writer, requests[i])
            latencies.append(time.perf_counter() - started)
            if b'"errors"' in answer:
                errors += 1
        writer.close()

    opened, ready = asyncio.Event(), []  # every connection open before the clock starts
    tasks = [asyncio.ensure_future(connection(opened, ready)) for _ in range(concurrency)]
    await opened.wait()
    if when_open is not None:
        when_open()
    began = time.perf_counter()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Result(statistics.median(latencies) * 1000, p99 * 1000, count / elapsed, errors)


def _values(directory: Path, names: int) -> Path:
    path = directory / f"values-{names}.yaml"
    listed = "\n".join(f"          - ns-{i:05d}" for i in range(names))
    path.write_text(
        "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n"
        f"        create: true\n        names:\n{listed}\n"
    )
    return path


@contextlib.contextmanager
def _bare() -> Iterator[tuple[str, int]]:
    """``bench/bare_app.py`` under uvicorn in its own process; yields its base URL and process id."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.post(f"{base}/v1", json={}, timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


@contextlib.contextmanager
def _server(directory: Path, url: str, names: int, *, workers: int = 1) -> Iterator[tuple[str, str, str, int]]:
    """A migrated database and a serve process with a pool of ``names``; yields (base URL, token, workspace, pid)."""
    schema.upgrade(url)
    env = {"AIRPOOL_ADMIN_USERNAME": "bench", "AIRPOOL_ADMIN_PASSWORD": PASSWORD}
    extra = ("--workers", str(workers)) if workers > 1 else ()
    with serve_process(values=_values(directory, names), database_url=url, env=env, extra_args=extra) as served:
        base = served.base
        admin = GraphQL(base).login("bench")
        workspace = admin.data("{ workspaces { id } }")["workspaces"][0]["id"]
        assert admin.token is not None
        yield base, admin.token, workspace, served.proc.pid


def _row(name: str, c: int, create: Result, base: Result) -> str:
    return (
        f"{name:<11}{c:>4}  create p50 {create.p50_ms:7.1f} ms  p99 {create.p99_ms:7.1f} ms  {create.per_second:7.1f}/s"
        f"   | appConfig p50 {base.p50_ms:6.1f} ms  p99 {base.p99_ms:6.1f} ms  {base.per_second:7.1f}/s"
        f"   | ratio p50 {create.p50_ms / base.p50_ms:5.1f}x  p99 {create.p99_ms / base.p99_ms:5.1f}x"
        f"  tput {base.per_second / create.per_second:5.1f}x" + (f"  ({create.errors} errors)" if create.errors else "")
    )


def _cpu_row(create: Result, base: Result) -> str:
    return (
        f"{'':<15}server CPU per request: create {create.cpu_ms:.2f} ms, appConfig {base.cpu_ms:.2f} ms"
        f" (appConfig/create {base.cpu_ms / create.cpu_ms:.2f})"
    )


def _create_bench(
    name: str,
    url: str,
    directory: Path,
    plan: list[tuple[int, int]],
    *,
    bare: tuple[str, int] | None = None,
    workers: int = 1,
) -> list[tuple[int, Result]]:
    total = sum(count for _, count in plan) + WARM_UP
    creates: list[tuple[int, Result]] = []
    with _server(directory, url, total, workers=workers) as (base, token, workspace, pid):
        # Not measured: each server process's first creates open its database connections, fill SQLAlchemy's and
        # graphql's caches and get psycopg's statements prepared (the first of three rounds was always the slowest).
        _run(
            pid,
            base,
            token,
            query=CREATE,
            variables=lambda i: {"label": f"warm-up {i}", "ws": workspace},
            count=WARM_UP,
            concurrency=16,
        )
        for concurrency, count in plan:
            base_result = _run(pid, base, token, query=APP_CONFIG, variables={}, count=count, concurrency=concurrency)
            if bare is not None:
                bare_base, bare_pid = bare
                floor = _run(
                    bare_pid, bare_base, token, query=APP_CONFIG, variables={}, count=count, concurrency=concurrency
                )
                print(
                    f"{'bare':<11}{concurrency:>4}  appConfig {base_result.per_second:7.1f}/s p50 "
                    f"{base_result.p50_ms:6.1f} ms | bare endpoint {floor.per_second:7.1f}/s p50 {floor.p50_ms:6.1f} ms"
                    f" | ratio appConfig/bare throughput {base_result.per_second / floor.per_second:.2f}"
                    f" | server CPU per request {base_result.cpu_ms:.2f} ms vs {floor.cpu_ms:.2f} ms"
                    f" (bare/appConfig {floor.cpu_ms / base_result.cpu_ms:.2f})",
                    flush=True,
                )
            spread: list[list[int]] = []
            create = _run(
                pid,
                base,
                token,
                query=CREATE,
                variables=lambda i, c=concurrency: {"label": f"bench {c}-{i}", "ws": workspace},
                count=count,
                concurrency=concurrency,
                when_open=functools.partial(_record_spread, spread, base, concurrency) if workers > 1 else None,
            )
            creates.append((concurrency, create))
            print(_row(name, concurrency, create, base_result), flush=True)
            print(_cpu_row(create, base_result), flush=True)
            if spread:
                print(f"{'':<15}connections per server process: {'/'.join(map(str, spread[0]))}", flush=True)
            print(
                f"{'':<15}create/appConfig throughput {create.per_second / base_result.per_second:.2f}  "
                f"p99/p50 {create.p99_ms / create.p50_ms:.1f}",
                flush=True,
            )
            if workers == 1:
                # The server answers a body it answered before from memory; a new (unused) variable in every body
                # makes it execute appConfig each time: the cheapest GraphQL operation as such.
                executed = _run(
                    pid,
                    base,
                    token,
                    query=APP_CONFIG,
                    variables=lambda i: {"request": i},
                    count=count,
                    concurrency=concurrency,
                )
                print(
                    f"{'':<15}appConfig executed every time {executed.per_second:.1f}/s, server CPU"
                    f" {executed.cpu_ms:.2f} ms | create/appConfig-executed throughput"
                    f" {create.per_second / executed.per_second:.2f}, CPU {executed.cpu_ms / create.cpu_ms:.2f}",
                    flush=True,
                )
    return creates


def _available_bench(url: str, directory: Path, names: int, count: int) -> None:
    with _server(directory, url, names) as (base, token, _, _pid):
        listed = httpx.post(f"{base}/v1", json={"query": AVAILABLE}, headers={"authorization": token}, timeout=60)
        assert len(listed.json()["data"]["availableNamespaces"]) == names
        base_result = asyncio.run(_load(base, token, query=APP_CONFIG, variables={}, count=count, concurrency=1))
        result = asyncio.run(_load(base, token, query=AVAILABLE, variables={}, count=count, concurrency=1))
        print(
            f"availableNamespaces with {names} namespaces (sqlite, sequential): p50 {result.p50_ms:.1f} ms  "
            f"p99 {result.p99_ms:.1f} ms   | appConfig p50 {base_result.p50_ms:.1f} ms   "
            f"| ratio p50 {result.p50_ms / base_result.p50_ms:.1f}x",
            flush=True,
        )


def _postgres_database(admin_url: str, name: str) -> str:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    args = parser.parse_args()
    plan = [(1, 100), (16, 800), (64, 800)] if not args.quick else [(1, 10), (16, 32), (64, 64)]
    one, five, _ = os.getloadavg()
    print(f"cpus: {os.cpu_count()}  load average {one:.1f} / {five:.1f}  plan (concurrency, requests): {plan}")
    with tempfile.TemporaryDirectory(prefix="airpool-bench-") as tmp, _bare() as bare:
        directory = Path(tmp)
        _create_bench("sqlite", f"sqlite:///{directory / 'bench.db'}", directory, plan, bare=bare)
        with postgres_server() as admin_url:
            single = dict(_create_bench("postgresql", _postgres_database(admin_url, "bench"), directory, plan))
            # Three rounds, each opening its connections anew; how they were spread over the two processes is
            # printed with each round.
            two = _create_bench(
                "pg 2 procs", _postgres_database(admin_url, "bench2"), directory, plan[1:2] * 3, workers=2
            )
            c = plan[1][0]
            rates = sorted(result.per_second for _, result in two)
            busy = statistics.median(result.busy_cores for _, result in two)
            print(
                f"serve --workers 2 on PostgreSQL, concurrency {c}: {' / '.join(f'{r:.1f}' for r in rates)} creates/s"
                f" in three rounds | one process {single[c].per_second:.1f}/s | scaling "
                f"{rates[0] / single[c].per_second:.2f}x to {rates[-1] / single[c].per_second:.2f}x | server CPU per "
                f"create {statistics.median(r.cpu_ms for _, r in two):.2f} ms in two processes, {single[c].cpu_ms:.2f}"
                f" ms in one | machine busy {busy:.2f} of {os.cpu_count()} cores with two, {single[c].busy_cores:.2f}"
                " with one",
                flush=True,
            )
        _available_bench(f"sqlite:///{directory / 'ns.db'}", directory, 10_000, 30 if not args.quick else 10)


if __name__ == "__main__":
    main()
