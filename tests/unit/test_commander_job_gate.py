"""While commander runs a job, its pool health checks run two at a time instead of the pass's ``parallel``."""

from __future__ import annotations

import threading
import time

from airpool.commander import health


def run_checks(gate: health.JobGate, *, parallel: int, count: int, at_once: int) -> list[int]:
    """``count`` checks on ``count`` threads, each holding its slot until ``at_once`` of them are inside; returns
    how many ran at once each time a check started."""
    started: list[int] = []
    inside = 0
    lock = threading.Lock()
    release = threading.Event()

    def one() -> None:
        nonlocal inside
        with gate.check(parallel):
            with lock:
                inside += 1
                started.append(inside)
            release.wait(30)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(started) < at_once and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join(30)
    return started


def test_checks_run_parallel_at_once_without_jobs_and_two_at_a_time_while_a_job_runs() -> None:
    gate = health.JobGate(while_jobs=2)
    assert max(run_checks(gate, parallel=8, count=8, at_once=8)) == 8
    with gate.job():
        gate.reset_peak()
        counts = run_checks(gate, parallel=8, count=8, at_once=2)
        assert len(counts) == 8  # every check ran: a pass slows down, it never stops
        assert gate.peak == 2
    gate.reset_peak()
    assert max(run_checks(gate, parallel=8, count=8, at_once=8)) == 8
