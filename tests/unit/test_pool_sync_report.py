"""The pool sync's log line stays one short line however large the pool: ``airpool serve`` with 3,000 new names
used to log every name in one 60 KB line (200 KB with 10,000)."""

from __future__ import annotations

from airpool.services.pool import SyncReport


def test_a_large_sync_is_described_by_counts_and_the_first_names() -> None:
    names = tuple(f"airflow-pool-{i}" for i in range(1, 3001))
    line = SyncReport(added=names).describe()
    assert line == (
        "3000 added (airflow-pool-1, airflow-pool-2, airflow-pool-3, airflow-pool-4, airflow-pool-5, airflow-pool-6, "
        "airflow-pool-7, airflow-pool-8, airflow-pool-9, airflow-pool-10, and 2990 more), 0 retired, 0 returned"
    )
    assert len(line) < 300


def test_a_small_sync_names_every_change() -> None:
    report = SyncReport(added=("pool-d",), retired=("pool-a", "pool-b"), returned=("pool-c",))
    assert report.changed
    assert report.describe() == "1 added (pool-d), 2 retired (pool-a, pool-b), 1 returned (pool-c)"


def test_held_names_that_left_the_configuration_are_said() -> None:
    report = SyncReport(retire_on_release=("pool-x",))
    assert report.changed
    assert report.describe() == (
        "0 added, 0 retired, 0 returned, 1 to retire when their Deployment is deleted (pool-x)"
    )


def test_nothing_changed() -> None:
    assert not SyncReport().changed
