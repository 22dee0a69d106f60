"""Queued commander work wakes a worker of the same process when (and only when) its transaction commits, on
SQLite and PostgreSQL: the in-process commander of ``airpool serve`` starts a create or a delete at once instead
of at its next poll of the queue."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from airpool.domain.errors import InvalidInput
from airpool.services import commander_jobs, deployments, workspaces
from airpool.services.platform import Platform
from tests.support import platform as tp

POOL = ("pool-a", "pool-b")


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = tp.make(database_url, tp.config(pool_names=POOL, hard_delete=True))
    yield p
    p.close()


def test_a_rolled_back_enqueue_wakes_nobody_a_committed_one_does(plat: Platform) -> None:
    plat.db.work_queued.clear()

    def queue_then_fail() -> None:
        with plat.db.write() as s:
            commander_jobs.enqueue(s, kind=commander_jobs.JobKind.HEALTH, at=plat.now(), namespace="pool-a")
            raise InvalidInput("changed my mind")

    with pytest.raises(InvalidInput):
        queue_then_fail()
    assert not plat.db.work_queued.is_set()
    with plat.db.write() as s:
        commander_jobs.enqueue(s, kind=commander_jobs.JobKind.HEALTH, at=plat.now(), namespace="pool-a")
        assert not plat.db.work_queued.is_set()  # not before the commit: the worker would find nothing yet
    assert plat.db.work_queued.is_set()
    plat.db.wait_for_work(60)  # returns at once and takes the signal
    assert not plat.db.work_queued.is_set()


def test_create_and_delete_wake_a_waiting_worker(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    plat.db.work_queued.clear()
    woken = threading.Event()

    def worker() -> None:
        plat.db.wait_for_work(600)  # a poll interval no test would wait out
        woken.set()

    waiting = threading.Thread(target=worker, daemon=True)
    waiting.start()
    made = deployments.create(plat, admin, workspace_id=ws, label="wakes")
    assert woken.wait(60)
    waiting.join(60)
    assert not plat.db.work_queued.is_set()
    deployments.delete(plat, admin, made.id, hard=True)
    assert plat.db.work_queued.is_set()
