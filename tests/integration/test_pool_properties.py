"""Property test of the pool: any sequence of creates, deletes, commander completions, health verdicts, cleanups,
early releases and pool-config changes keeps the invariants, on the real databases.

Invariants checked after every step:
- every namespace has at most one holder, a holder exactly in the held states, and the holder is the Deployment
  whose namespace it is (live when claimed, deleted when releasing/retained);
- no two Deployments occupy one namespace;
- the namespaces offered are exactly the configured pool minus those claimed, releasing, retained,
  misconfigured or retired.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from airpool.domain.errors import AirpoolError
from airpool.domain.pool import HELD_STATES, NamespaceState
from airpool.services import cleanup, commander_jobs, deployments, platform, pool, workspaces
from airpool.services.access import Actor
from airpool.store import models
from tests.support import platform as tp

UNIVERSE = ("ns-a", "ns-b", "ns-c", "ns-d", "ns-e")
S = NamespaceState


def _fresh_sqlite(template: Path, tmp: Path) -> Callable[[], str]:
    counter = itertools.count()

    def make() -> str:
        target = tmp / f"example-{next(counter)}.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"

    return make


def _fresh_postgres(url: str) -> Callable[[], str]:
    tables = ", ".join(t.name for t in models.Base.metadata.sorted_tables)

    def make() -> str:
        eng = sa.create_engine(url)
        with eng.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        eng.dispose()
        return url

    return make


@pytest.fixture
def fresh_database(database_url: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    from airpool.services import schema

    if database_url.startswith("sqlite"):
        template = tmp_path / "template.db"
        schema.upgrade(f"sqlite:///{template}")
        yield _fresh_sqlite(template, tmp_path)
    else:
        schema.upgrade(database_url)
        yield _fresh_postgres(database_url)


class PoolMachine(RuleBasedStateMachine):
    new_database: Callable[[], str]

    def __init__(self) -> None:
        super().__init__()
        url = self.new_database()
        self.clock = tp.Clock()
        cfg = tp.config(pool_names=UNIVERSE[:3], hard_delete=True, retention_days=2)
        self.p = platform.connect(cfg, url=url, clock=self.clock, require_schema=False, pool_size=2)
        pool.sync(self.p)
        self.admin: Actor = tp.admin(self.p)
        self.ws = workspaces.list_for(self.p, self.admin)[0].id
        self.live: list[str] = []

    def teardown(self) -> None:
        self.p.close()

    @rule(choice=st.sampled_from((None, *UNIVERSE, "not-in-pool")))
    def create(self, choice: str | None) -> None:
        try:
            dep = deployments.create(self.p, self.admin, workspace_id=self.ws, label="prop", namespace=choice)
        except AirpoolError:
            return
        assert choice is None or dep.namespace == choice
        self.live.append(dep.id)

    @rule(data=st.data(), hard=st.sampled_from((None, True, False)))
    def delete(self, data: st.DataObject, hard: bool | None) -> None:
        if not self.live:
            return
        dep_id = data.draw(st.sampled_from(self.live))
        deployments.delete(self.p, self.admin, dep_id, hard=hard)
        self.live.remove(dep_id)

    @rule(outcome=st.sampled_from(("complete", "temporary", "permanent")))
    def commander_step(self, outcome: str) -> None:
        leased = commander_jobs.lease(self.p, worker_id="prop")
        if leased is None:
            return
        job = leased.job
        if outcome == "complete" or job.kind == commander_jobs.JobKind.UNINSTALL:
            commander_jobs.complete(self.p, job.id, worker_id="prop")
        else:
            commander_jobs.fail(self.p, job.id, worker_id="prop", error="boom", temporary=outcome == "temporary")

    @rule(name=st.sampled_from(UNIVERSE), ok=st.booleans())
    def health(self, name: str, ok: bool) -> None:
        with contextlib.suppress(AirpoolError):
            pool.record_health(self.p, name, ok=ok, reason="missing rolebinding")

    @rule(days=st.integers(min_value=0, max_value=3))
    def run_cleanup(self, days: int) -> None:
        self.clock.advance(days=days)
        cleanup.run(self.p)

    @rule(name=st.sampled_from(UNIVERSE))
    def release_early(self, name: str) -> None:
        with contextlib.suppress(AirpoolError):
            pool.release_early(self.p, self.admin, name)

    @rule(names=st.sets(st.sampled_from(UNIVERSE)))
    def change_config(self, names: set[str]) -> None:
        tp.with_pool(self.p, tuple(sorted(names)))

    @invariant()
    def pool_invariants(self) -> None:
        configured = set(self.p.config.pool.names) if self.p.config.pool else set()
        with self.p.db.read() as s:
            rows = list(s.scalars(sa.select(models.PoolNamespace)))
            deps = {d.id: d for d in s.scalars(sa.select(models.Deployment))}
        by_name = {r.name: r for r in rows}
        assert configured <= by_name.keys()
        holders = [r.holder_id for r in rows if r.holder_id is not None]
        assert len(holders) == len(set(holders)), "a Deployment holds two namespaces"
        for r in rows:
            state = S(r.state)
            assert (r.holder_id is not None) == (state in HELD_STATES), (r.name, state, r.holder_id)
            assert r.in_config == (r.name in configured)
            if r.holder_id is not None:
                dep = deps[r.holder_id]
                assert dep.namespace == r.name
                assert (dep.deleted_at is None) == (state is S.CLAIMED)
            if r.name not in configured:
                assert state in HELD_STATES | {S.RETIRED}
        occupied = [d.active_namespace for d in deps.values() if d.active_namespace]
        assert len(occupied) == len(set(occupied)), "two Deployments in one namespace"
        for d in deps.values():
            if d.deleted_at is None:
                assert by_name[d.namespace].holder_id == d.id
        offered = set(pool.available_namespaces(self.p))
        unavailable = {r.name for r in rows if S(r.state) is not S.AVAILABLE}
        assert offered == configured - unavailable


@pytest.mark.slow
def test_pool_invariants_hold(fresh_database: Callable[[], str], database_url: str) -> None:
    PoolMachine.new_database = staticmethod(fresh_database)  # type: ignore[assignment]
    examples = 25 if database_url.startswith("sqlite") else 12
    run_state_machine_as_test(
        PoolMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
