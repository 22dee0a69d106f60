"""``deployments.create`` at the services level (no HTTP): latency p50/p99 and throughput at concurrency 1, 16 and
64 on SQLite and PostgreSQL, against a baseline measured the same way in the same run: one minimal write
transaction (a single INSERT + COMMIT on the same engine). The ratio is the cost of the claim transaction (access
check, release name, pool compare-and-set, Deployment insert, job, audit) over the database's commit floor.
Then ``pool.available_namespaces`` with a 10,000-namespace pool against a ``SELECT 1`` round trip.

Run from the repository root:  .venv/bin/python -m bench.services_create [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from tests.support import platform as tp
from tests.support.postgres import postgres_server

from airpool.services import deployments, platform, pool, workspaces
from airpool.services.access import Actor
from airpool.store import engine, models


def _measure(op: Callable[[int], None], *, concurrency: int, total: int) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, ops/s) of ``total`` calls spread over ``concurrency`` threads."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(total))
    barrier = threading.Barrier(concurrency + 1)

    def worker() -> None:
        barrier.wait()
        mine = []
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            t0 = time.perf_counter()
            op(i)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return statistics.median(latencies) * 1000, p99 * 1000, total / wall


def _fresh(url_factory: Callable[[], str], pool_size: int) -> platform.Platform:
    names = tuple(f"ns-{i:05d}" for i in range(pool_size))
    p = tp.make(url_factory(), tp.config(pool_names=names))
    p.db.dispose()
    p.db = engine.Database(p.db.url, pool_size=70)
    return p


def bench_create(label: str, url_factory: Callable[[], str], *, quick: bool) -> None:
    for concurrency in (1, 16, 64):
        total = max(50 if quick else 200, concurrency * (4 if quick else 8))
        p = _fresh(url_factory, total)
        admin = tp.admin(p)
        ws = workspaces.list_for(p, admin)[0].id

        def baseline(i: int, p: platform.Platform = p) -> None:
            with p.db.write() as s:
                s.add(models.AuditEvent(at=p.now(), actor="bench", action="noop", target_kind="x", target_id=str(i)))

        def create(i: int, p: platform.Platform = p, ws: str = ws, admin: Actor = admin) -> None:
            deployments.create(p, admin, workspace_id=ws, label=f"bench {i}", executor="LocalExecutor")

        b50, b99, bops = _measure(baseline, concurrency=concurrency, total=total)
        c50, c99, cops = _measure(create, concurrency=concurrency, total=total)
        assert len(pool.available_namespaces(p)) == 0
        print(
            f"{label:10} create c={concurrency:<3} n={total:<4} p50 {c50:7.2f} ms  p99 {c99:7.2f} ms  {cops:7.1f}/s"
            f"   | baseline p50 {b50:6.2f} ms p99 {b99:6.2f} ms {bops:7.1f}/s"
            f"   | ratio p50 {c50 / b50:4.1f}x p99 {c99 / b99:4.1f}x"
        )
        p.close()


def bench_available(label: str, url_factory: Callable[[], str], *, quick: bool) -> None:
    size = 10_000
    url = url_factory()
    p = tp.make(url, tp.config(pool_names=()))
    with p.db.write() as s:
        now = p.now()
        s.execute(
            sa.insert(models.PoolNamespace),
            [
                {
                    "name": f"ns-{i:05d}",
                    "state": "available",
                    "in_config": True,
                    "state_since": now,
                    "health_reason": "",
                    "version": 1,
                    "created_at": now,
                }
                for i in range(size)
            ],
        )

    def floor(_: int) -> None:
        with p.db.read() as s:
            s.execute(sa.text("SELECT 1"))

    def available(_: int) -> None:
        assert len(pool.available_namespaces(p)) == size

    runs = 30 if quick else 100
    f50, _f99, _ = _measure(floor, concurrency=1, total=runs)
    a50, a99, _ = _measure(available, concurrency=1, total=runs)
    print(
        f"{label:10} availableNamespaces ({size} namespaces) p50 {a50:6.2f} ms p99 {a99:6.2f} ms"
        f"   | SELECT 1 p50 {f50:5.2f} ms   | ratio p50 {a50 / f50:5.1f}x   (aim < 20 ms)"
    )
    p.close()


@contextlib.contextmanager
def _sqlite() -> Iterator[Callable[[], str]]:
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1000))
        yield lambda: f"sqlite:///{Path(tmp) / f'bench-{next(counter)}.db'}"


@contextlib.contextmanager
def _postgres() -> Iterator[Callable[[], str]]:
    with postgres_server() as admin_url:
        counter = iter(range(1000))
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")

        def make() -> str:
            name = f"bench_{next(counter)}"
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            return admin_url.rsplit("/", 1)[0] + f"/{name}"

        yield make
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations (a smoke run)")
    args = parser.parse_args()
    for label, factory in (("sqlite", _sqlite), ("postgresql", _postgres)):
        with factory() as urls:
            bench_create(label, urls, quick=args.quick)
            bench_available(label, urls, quick=args.quick)


if __name__ == "__main__":
    main()
