"""No double claim: many threads, each its own session, race for a pool of N namespaces on the real databases."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from airpool.domain.errors import AirpoolError, PoolExhausted
from airpool.domain.pool import NamespaceState
from airpool.services import deployments, pool, workspaces
from tests.support import platform as tp

POOL_SIZE = 20
REQUESTS = 60


@pytest.mark.slow
@pytest.mark.parametrize("choose", [False, True], ids=["auto", "chosen"])
def test_concurrent_creates_claim_each_namespace_once(database_url: str, choose: bool) -> None:
    names = tuple(f"pool-{i:03d}" for i in range(POOL_SIZE))
    p = tp.make(database_url, tp.config(pool_names=names))
    p.db.dispose()  # fresh connections sized for the crowd
    from airpool.store import engine

    p.db = engine.Database(p.db.url, pool_size=REQUESTS)
    try:
        admin = tp.admin(p)
        ws = workspaces.list_for(p, admin)[0].id
        barrier = threading.Barrier(REQUESTS)
        created: list[str] = []
        errors: list[AirpoolError] = []
        crashes: list[BaseException] = []
        lock = threading.Lock()

        def one(i: int) -> None:
            barrier.wait()
            # "chosen": everyone fights over the same few names, like users picking the top of the list
            ns = names[i % 3] if choose else None
            try:
                dep = deployments.create(p, admin, workspace_id=ws, label=f"race {i}", namespace=ns)
            except AirpoolError as exc:
                with lock:
                    errors.append(exc)
            except BaseException as exc:
                with lock:
                    crashes.append(exc)
            else:
                with lock:
                    created.append(dep.namespace)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(REQUESTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert crashes == []
        assert len(created) == len(set(created)), "a namespace was claimed twice"
        holders = [v for v in pool.status(p, admin) if v.holder_id is not None]
        assert len({v.holder_id for v in holders}) == len(holders)
        assert len(deployments.list_visible(p, admin)) == len(created)
        if choose:
            assert sorted(created) == sorted(names[:3])
            assert all("is not available: it is used by another Deployment" in e.message for e in errors)
        else:
            assert sorted(created) == sorted(names)
            assert len(errors) == REQUESTS - POOL_SIZE
            assert all(isinstance(e, PoolExhausted) for e in errors)
            assert all(e.message.startswith("no kubernetes namespaces are available") for e in errors)
            assert pool.available_namespaces(p) == []
            assert Counter(v.state for v in pool.status(p, admin)) == {NamespaceState.CLAIMED: POOL_SIZE}
    finally:
        p.close()


@pytest.mark.slow
def test_concurrent_deletes_of_one_deployment_queue_one_uninstall(database_url: str) -> None:
    from airpool.domain.errors import Conflict, NotFound
    from airpool.services import commander_jobs

    p = tp.make(database_url, tp.config(pool_names=("pool-a",), hard_delete=True))
    try:
        admin = tp.admin(p)
        ws = workspaces.list_for(p, admin)[0].id
        dep = deployments.create(p, admin, workspace_id=ws, label="once")
        barrier = threading.Barrier(8)
        outcomes: list[str] = []
        lock = threading.Lock()

        def one() -> None:
            barrier.wait()
            try:
                deployments.delete(p, admin, dep.id)
                result = "deleted"
            except Conflict as exc:  # a second delete is told where the removal stands
                result = "refused" if "is already deleted" in exc.message else exc.message
            except NotFound:
                result = "refused"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["deleted"] + ["refused"] * 7
        kinds = [(j.kind, j.state) for j in commander_jobs.for_deployment(p, dep.id)]
        assert kinds == [("install", "cancelled"), ("uninstall", "queued")]
    finally:
        p.close()


@pytest.mark.slow
def test_two_replicas_race_for_the_pool(database_url: str) -> None:
    """Two Platforms (own engines, own writer locks: like two server processes) on one database."""
    from airpool.services import platform

    names = tuple(f"pool-{i:02d}" for i in range(10))
    first = tp.make(database_url, tp.config(pool_names=names))
    second = platform.connect(first.config, url=first.db.url, clock=first.clock, require_schema=False)
    try:
        admin = tp.admin(first)
        ws = workspaces.list_for(first, admin)[0].id
        barrier = threading.Barrier(30)
        created: list[str] = []
        refused: list[str] = []
        lock = threading.Lock()

        def one(i: int) -> None:
            replica = first if i % 2 else second
            barrier.wait()
            try:
                dep = deployments.create(replica, admin, workspace_id=ws, label=f"r{i}")
            except PoolExhausted as exc:
                with lock:
                    refused.append(exc.message)
            else:
                with lock:
                    created.append(dep.namespace)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(created) == list(names)
        assert len(refused) == 20
    finally:
        second.close()
        first.close()
