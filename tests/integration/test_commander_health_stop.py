"""Stopping commander does not wait for a pool health pass to end: the checks under way finish and are recorded,
no further one starts, and the namespaces not checked yet keep their state for the next pass. Before, SIGTERM to an
``airpool serve`` whose commander was in its first pass over 3,000 new namespaces took 109 s to end (the pass).

The pool's names do not exist in the cluster, so each check is one real request (commander may not read them) and
ends ``misconfigured`` with that reason: a long pass needs no objects made first."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import uuid

import lightkube
import pytest

from airpool.commander import health, pool_monitor
from airpool.domain.pool import PENDING_CHECK
from airpool.services import platform, pool, schema
from tests.support import cluster as cluster_support
from tests.support import platform as platform_support

pytestmark = pytest.mark.slow


def _names(count: int) -> tuple[str, ...]:
    tag = uuid.uuid4().hex[:6]
    return tuple(f"absent-{tag}-{i:04d}" for i in range(count))


def test_a_stopped_check_many_starts_no_further_check(commander_client: lightkube.Client) -> None:
    targets = [health.Target(name, leftovers=True) for name in _names(60)]
    stop = threading.Event()
    handed: list[str] = []

    def record(verdicts: object) -> None:
        handed.extend(v.namespace for v in verdicts)  # type: ignore[attr-defined]
        stop.set()  # commander is told to stop once the first verdict is in

    result = health.check_many(commander_client, targets, parallel=2, batch=1, on_verdicts=record, stop=stop)
    checked = len(result.verdicts) + len(result.failed)
    assert 1 <= checked <= 10, f"{checked} of {len(targets)} checked after the stop"
    assert sorted(handed) == sorted(v.namespace for v in result.verdicts)  # every verdict made was recorded
    assert all(not v.ok and "cannot read namespace" in (v.reason or "") for v in result.verdicts)


def test_stopping_the_monitor_ends_a_long_first_pass_and_leaves_the_rest_unchecked(
    sqlite_url: str, commander_client: lightkube.Client
) -> None:
    names = _names(1500)
    schema.upgrade(sqlite_url)
    cfg = dataclasses.replace(platform_support.config(pool_names=names), health_check_interval=3600)
    plat = platform.connect(cfg, url=sqlite_url)
    with contextlib.ExitStack() as stack:
        stack.callback(plat.close)
        pool.sync(plat)  # every name new: the first pass checks each
        actor = platform_support.admin(plat)
        monitor = pool_monitor.PoolMonitor(plat, commander_client, parallel=1)
        stop = threading.Event()
        thread = threading.Thread(target=monitor.run, args=(stop,), kwargs={"interval": 3600}, daemon=True)
        thread.start()
        stack.callback(thread.join, 120)
        stack.callback(stop.set)

        def reasons() -> list[str]:
            return [row.health_reason for row in pool.status(plat, actor)]

        cluster_support.wait_for(
            lambda: any(PENDING_CHECK not in r for r in reasons()),
            timeout=180,
            what="the first verdicts of the pass to be recorded",
        )
        stop.set()
        thread.join(60)
        assert not thread.is_alive(), "the monitor was still in its pass 60 s after the stop"
        after = reasons()
        unchecked = sum(1 for r in after if PENDING_CHECK in r)
        assert 0 < unchecked < len(names), f"{unchecked} of {len(names)} not checked"
        assert all("cannot read namespace" in r for r in after if PENDING_CHECK not in r)
        assert monitor.passes_done == 1
