"""The phases of an upgrade between the API and commander (``services.upgrades``), on SQLite and PostgreSQL: a
cancel wins only before the migration starts; commander's compare-and-set sees a cancelled or replaced rollout; a
Deployment running its own image waits for an image deploy of the new version; commander writes only under its
lease."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airpool.domain.errors import Conflict
from airpool.services import commander_jobs, deployments, upgrades, workspaces
from airpool.services.platform import Platform
from tests.support import platform as tp

IMAGE = "registry.example.com/team/airflow:1.0"


@pytest.fixture
def plat(database_url: str) -> Iterator[Platform]:
    p = tp.make(database_url, tp.config(pool_names=("pool-a",), hard_delete=True))
    yield p
    p.close()


def _lease(plat: Platform) -> tuple[int, str]:
    """Take the next job as commander would (the install first, then the upgrade)."""
    while True:
        leased = commander_jobs.lease(plat, worker_id="w")
        assert leased is not None
        if leased.job.kind == "upgrade":
            return leased.job.id, "w"
        commander_jobs.complete(plat, leased.job.id, worker_id="w")


def test_cancel_before_the_migration_wins_and_after_it_is_refused(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    dep = deployments.create(plat, admin, workspace_id=ws, label="up", airflow_version="2.11.2")

    # Cancelled while queued: commander's compare-and-set finds nothing to migrate.
    upgrades.update_airflow(plat, admin, dep.id, "3.3.2")
    lease = _lease(plat)
    cancelled = upgrades.update_airflow(plat, admin, dep.id, "2.11.2")
    assert (cancelled.desired_airflow_version, cancelled.rollout_phase) == (None, None)
    assert not upgrades.begin_migration(plat, dep.id, version="3.3.2", image=None, lease=lease)
    commander_jobs.complete(plat, lease[0], worker_id="w")

    # Once the migration runs, a cancel (or another rollout) is refused and changes nothing.
    upgrades.update_airflow(plat, admin, dep.id, "3.3.2")
    lease = _lease(plat)
    assert upgrades.begin_migration(plat, dep.id, version="3.3.2", image=None, lease=lease)
    for attempt in (
        lambda: upgrades.update_airflow(plat, admin, dep.id, "2.11.2"),
        lambda: upgrades.deploy_image(plat, admin, release_name=dep.release_name, image=IMAGE),
    ):
        with pytest.raises(Conflict, match=r"commander is running the database migration of Airflow 3\.3\.2"):
            attempt()
    running = deployments.get(plat, admin, dep.id)
    assert (running.airflow_version, running.desired_airflow_version, running.rollout_phase) == (
        "2.11.2",
        "3.3.2",
        "migrating",
    )
    # Only the lease holder reports; then the Deployment runs the new version with nothing pending.
    with pytest.raises(upgrades.LeaseLost):
        upgrades.finish_rollout(plat, dep.id, version="3.3.2", image=None, lease=(lease[0], "another-worker"))
    upgrades.finish_rollout(plat, dep.id, version="3.3.2", image=None, lease=lease)
    done = deployments.get(plat, admin, dep.id)
    assert (done.airflow_version, done.desired_airflow_version, done.rollout_phase, done.rollout_error) == (
        "3.3.2",
        None,
        None,
        None,
    )


def test_a_failed_rollout_keeps_the_old_version_and_says_why(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    dep = deployments.create(plat, admin, workspace_id=ws, label="up", airflow_version="2.11.2")
    upgrades.update_airflow(plat, admin, dep.id, "3.3.2")
    lease = _lease(plat)
    assert upgrades.begin_migration(plat, dep.id, version="3.3.2", image=None, lease=lease)
    upgrades.fail_rollout(plat, dep.id, reason="the migration Job failed: boom", lease=lease)
    failed = deployments.get(plat, admin, dep.id)
    assert (failed.airflow_version, failed.desired_airflow_version, failed.rollout_phase) == ("2.11.2", None, None)
    assert failed.rollout_error == "the migration Job failed: boom"
    # Asking again clears the old reason.
    again = upgrades.update_airflow(plat, admin, dep.id, "3.3.2")
    assert (again.rollout_phase, again.rollout_error) == ("queued", None)


def test_an_own_image_waits_for_an_image_deploy_of_the_new_version(plat: Platform) -> None:
    admin = tp.admin(plat)
    ws = workspaces.list_for(plat, admin)[0].id
    dep = deployments.create(plat, admin, workspace_id=ws, label="img", airflow_version="2.11.2")
    upgrades.deploy_image(plat, admin, release_name=dep.release_name, image=IMAGE)
    lease = _lease(plat)
    assert upgrades.target(deployments.get(plat, admin, dep.id)) == ("2.11.2", IMAGE)
    assert upgrades.begin_migration(plat, dep.id, version="2.11.2", image=IMAGE, lease=lease)
    upgrades.finish_rollout(plat, dep.id, version="2.11.2", image=IMAGE, lease=lease)
    commander_jobs.complete(plat, lease[0], worker_id="w")

    jobs = len(commander_jobs.for_deployment(plat, dep.id))
    waiting = upgrades.update_airflow(plat, admin, dep.id, "3.3.2")
    assert (waiting.image, waiting.desired_airflow_version, waiting.rollout_phase) == (IMAGE, "3.3.2", "awaiting-image")
    assert upgrades.target(waiting) is None  # nothing for commander until the image comes
    assert len(commander_jobs.for_deployment(plat, dep.id)) == jobs
    newer = "registry.example.com/team/airflow:2.0"
    queued = upgrades.deploy_image(plat, admin, release_name=dep.release_name, image=newer, airflow_version="3.3.2")
    assert queued.rollout_phase == "queued"
    assert upgrades.target(queued) == ("3.3.2", newer)

    # The same image again (nothing new): re-applied, nothing pending.
    lease = _lease(plat)
    assert upgrades.begin_migration(plat, dep.id, version="3.3.2", image=newer, lease=lease)
    upgrades.finish_rollout(plat, dep.id, version="3.3.2", image=newer, lease=lease)
    commander_jobs.complete(plat, lease[0], worker_id="w")
    same = upgrades.deploy_image(plat, admin, release_name=dep.release_name, image=newer)
    assert (same.rollout_phase, same.desired_image, upgrades.target(same)) == (None, None, None)
