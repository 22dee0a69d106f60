"""Bad input gets a clear error naming what was wrong, and writes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from airpool.domain.errors import AirpoolError, Conflict, InvalidInput, NotFound
from airpool.services import deployments, workspaces
from airpool.services.platform import Platform
from airpool.store import models
from tests.support import platform as tp


def _snapshot(p: Platform) -> dict[str, Any]:
    with p.db.read() as s:
        counts = {
            t.__tablename__: s.scalar(sa.select(sa.func.count()).select_from(t))
            for t in (models.Deployment, models.CommanderJob, models.AuditEvent, models.Workspace)
        }
        pool_rows = [(r.name, r.state, r.holder_id, r.version) for r in s.scalars(sa.select(models.PoolNamespace))]
    return {"counts": counts, "pool": sorted(pool_rows)}


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = tp.make(database_url, tp.config(pool_names=("pool-a", "pool-b")))
    yield p
    p.close()


CASES = [
    ({"workspace_id": "no-such-workspace"}, NotFound, "workspace 'no-such-workspace' not found"),
    ({"workspace_id": "w" * 10_000}, NotFound, "workspace 'wwww"),
    ({"executor": "SequentialExecutor"}, InvalidInput, "executor 'SequentialExecutor' is not supported; allowed: "),
    ({"label": "x" * 10_000}, InvalidInput, "label is 10000 characters long; at most 64 are allowed"),
    ({"label": "   "}, InvalidInput, "label must not be empty"),
    ({"namespace": "Pool-A"}, InvalidInput, "namespace 'Pool-A' must consist of lower case alphanumeric"),
    ({"namespace": "n" * 70}, InvalidInput, "must be at most 63 characters"),
    ({"namespace": "pool-z"}, InvalidInput, "namespace 'pool-z' is not in the namespace pool"),
    ({"release_name": "Bad_Name"}, InvalidInput, "release name 'Bad_Name' must consist of lower case"),
    ({"airflow_version": "1.10.15"}, InvalidInput, "airflowVersion '1.10.15' is not offered on this installation"),
    ({"airflow_version": "3.1.3"}, InvalidInput, "allowed: 2.11.2, 3.3.2 (values.yaml airpool.airflow.versions)"),
    ({"description": "d" * 10_001}, InvalidInput, "description is 10001 characters long"),
]


@pytest.mark.parametrize(("override", "error", "message"), CASES, ids=[c[2][:30] for c in CASES])
def test_bad_create_writes_nothing(
    plat: Platform, override: dict[str, Any], error: type[AirpoolError], message: str
) -> None:
    admin = tp.admin(plat)
    args: dict[str, Any] = {"workspace_id": workspaces.list_for(plat, admin)[0].id, "label": "ok"} | override
    before = _snapshot(plat)
    with pytest.raises(error) as err:
        deployments.create(plat, admin, **args)
    assert message in err.value.message
    assert len(err.value.message) < 300
    assert _snapshot(plat) == before


def test_duplicate_release_name_writes_nothing(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    deployments.create(plat, admin, workspace_id=ws, label="one", release_name="sales")
    before = _snapshot(plat)
    with pytest.raises(Conflict, match="release name 'sales' is held by another Deployment 'one'"):
        deployments.create(plat, admin, workspace_id=ws, label="two", release_name="sales")
    assert _snapshot(plat) == before  # in particular the second pool namespace is still available


def test_free_form_rules(database_url: str) -> None:
    p = tp.make(database_url, tp.config(free_form=True))
    try:
        admin = tp.admin(p)
        ws = workspaces.list_for(p, admin)[0].id
        dep = deployments.create(p, admin, workspace_id=ws, label="a", namespace="team-a")
        assert dep.namespace == "team-a"
        before = _snapshot(p)
        with pytest.raises(Conflict, match="namespace 'team-a' is already used by another Deployment"):
            deployments.create(p, admin, workspace_id=ws, label="b", namespace="team-a")
        for reserved in ("kube-system", "default", "astronomer"):
            with pytest.raises(InvalidInput, match=f"namespace '{reserved}' is reserved"):
                deployments.create(p, admin, workspace_id=ws, label="b", namespace=reserved)
        assert _snapshot(p) == before
        derived = deployments.create(p, admin, workspace_id=ws, label="c", release_name="gamma")
        assert derived.namespace == "astronomer-gamma"
    finally:
        p.close()


def test_derived_mode_refuses_a_chosen_namespace(database_url: str) -> None:
    p = tp.make(database_url, tp.config())
    try:
        admin = tp.admin(p)
        ws = workspaces.list_for(p, admin)[0].id
        before = _snapshot(p)
        with pytest.raises(InvalidInput, match="cannot be chosen on this installation"):
            deployments.create(p, admin, workspace_id=ws, label="b", namespace="mine")
        assert _snapshot(p) == before
        dep = deployments.create(p, admin, workspace_id=ws, label="b", namespace="", release_name="")
        assert dep.namespace == f"astronomer-{dep.release_name}"
    finally:
        p.close()


def test_bad_workspace_and_member_input(plat: Platform) -> None:
    admin = tp.admin(plat)
    before = _snapshot(plat)
    with pytest.raises(InvalidInput, match="workspace label must not be empty"):
        workspaces.create(plat, admin, label=" ")
    with pytest.raises(InvalidInput, match="workspace label is 300 characters long"):
        workspaces.create(plat, admin, label="w" * 300)
    ws = workspaces.list_for(plat, admin)[0].id
    with pytest.raises(NotFound, match="user 'ghost' not found"):
        workspaces.set_member(plat, admin, ws, username="ghost", role="viewer")
    assert _snapshot(plat) == before
