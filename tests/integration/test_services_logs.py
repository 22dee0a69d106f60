"""Deployment logs at the services level, on SQLite and PostgreSQL: who may read them, what a request may ask for,
and how servers find a commander to read them (registrations that go stale), without a cluster."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from airpool.domain.errors import InvalidInput, NotFound
from airpool.domain.logs import LogsUnavailable
from airpool.services import access, auth, deployments, logs, people, workspaces
from airpool.services.platform import Platform
from tests.support import platform as tp

POOL = ("pool-a", "pool-b")
PASSWORD = "correct horse battery"


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = tp.make(database_url, tp.config(pool_names=POOL, hard_delete=True), clock=tp.Clock())
    yield p
    p.close()


def _clock(p: Platform) -> tp.Clock:
    assert isinstance(p.clock, tp.Clock)
    return p.clock


def test_only_callers_who_may_read_the_deployment_get_a_query(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    dep = deployments.create(plat, admin, workspace_id=ws, label="Sales", executor="LocalExecutor")
    checked = logs.check(plat, admin, dep.id, component="webserver", search="", limit=None)
    assert (checked.component, checked.search, checked.limit) == ("api-server", None, 800)
    assert checked.release_name == dep.release_name

    with pytest.raises(InvalidInput, match=r"component 'worker' has no logs in this Deployment \(the LocalExecutor"):
        logs.check(plat, admin, dep.id, component="worker")
    with pytest.raises(InvalidInput, match="component is required; this Deployment has: scheduler, webserver"):
        logs.check(plat, admin, dep.id, component=None)
    with pytest.raises(InvalidInput, match="is in the future"):
        logs.check(plat, admin, dep.id, component="scheduler", since=plat.now() + timedelta(hours=1))
    with pytest.raises(InvalidInput, match="search is 201 characters long"):
        logs.check(plat, admin, dep.id, component="scheduler", search="x" * 201)

    viewer_user = auth.create_user(plat, admin, username="vera", password=PASSWORD)
    outsider_user = auth.create_user(plat, admin, username="otto", password=PASSWORD)
    people.add_workspace_user(plat, admin, ws, email="vera", role="WORKSPACE_VIEWER")
    viewer = access.Actor(user_id=viewer_user.id, username="vera")
    outsider = access.Actor(user_id=outsider_user.id, username="otto")
    assert logs.check(plat, viewer, dep.id, component="scheduler").component == "scheduler"
    with pytest.raises(NotFound, match=f"deployment '{dep.id}' not found"):
        logs.check(plat, outsider, dep.id, component="scheduler")


def test_servers_ask_only_commanders_that_are_alive(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    dep = deployments.create(plat, admin, workspace_id=ws, label="Sales")
    checked = logs.check(plat, admin, dep.id, component="scheduler")
    with pytest.raises(LogsUnavailable, match="no commander is running to read logs"):
        logs.read(plat, checked)

    # a commander registered at an address where nothing listens: the server says so, it does not hang
    logs.register(plat, endpoint_id="gone", url="http://127.0.0.1:9", secret="s")
    with pytest.raises(LogsUnavailable, match=r"no commander answered \(http://127.0.0.1:9"):
        logs.read(plat, checked)

    # not refreshed for a minute: no longer asked; after ten, forgotten by the next registration
    _clock(plat).advance(seconds=61)
    with pytest.raises(LogsUnavailable, match="no commander is running"):
        logs.read(plat, checked)
    _clock(plat).advance(minutes=10)
    logs.register(plat, endpoint_id="new", url="http://127.0.0.1:9", secret="s2")
    assert logs.registered(plat) == ["new"]
    logs.unregister(plat, endpoint_id="new")
    assert logs.registered(plat) == []

    # commander's own lookup: a deleted Deployment has no logs to read
    assert logs.locate(plat, deployment_id=dep.id, component="scheduler").namespace == dep.namespace
    deployments.delete(plat, admin, dep.id)
    with pytest.raises(NotFound):
        logs.locate(plat, deployment_id=dep.id, component="scheduler")
