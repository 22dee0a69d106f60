"""The CLI's ways forward from stuck states, against the real app served in-process (the test plays commander
through the same service calls it makes): a second delete tells where the removal stands, ``deployment retry``,
``pool release --force``, ``deployment delete --wait`` when the namespace left the pool, and the soft-deleted
holder of a release name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airpool.services import commander_jobs, pool, views
from airpool.services.platform import Platform
from tests.support import cli
from tests.support import cluster as cluster_support
from tests.support import platform as platforms
from tests.support.api_server import PASSWORD, GraphQL, MovableClock, make_platform, running_app

pytestmark = pytest.mark.slow


class Server:
    def __init__(self, platform: Platform, base: str) -> None:
        self.platform = platform
        self.base = base


def _serve(tmp_path: Path, *, hard_delete: bool) -> Iterator[tuple[Server, Path]]:
    cfg = platforms.config(pool_names=("pool-a", "pool-b"), hard_delete=hard_delete, retention_days=7)
    plat = make_platform(f"sqlite:///{tmp_path / 'airpool.db'}", cfg, clock=MovableClock())
    with running_app(plat) as base:
        GraphQL(base).signup("admin")
        config = cli.login(tmp_path / "cli" / "config.yaml", base, username="admin", password=PASSWORD)
        yield Server(plat, base), config


@pytest.fixture
def hard(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    yield from _serve(tmp_path, hard_delete=True)


@pytest.fixture
def soft(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    yield from _serve(tmp_path, hard_delete=False)


def _create(config: Path, namespace: str, *extra: str) -> dict[str, str]:
    result = cli.run(config, "deployment", "create", "-l", "etl", "-n", namespace, "-o", "json", *extra)
    assert result.code == 0, result
    created: dict[str, str] = json.loads(result.out)
    return created


def _leased(server: Server, kind: commander_jobs.JobKind) -> views.LeasedJob:
    leased: list[views.LeasedJob] = []

    def queued() -> bool:
        job = commander_jobs.lease(server.platform, worker_id="test", kinds=(kind,))
        if job is not None:
            leased.append(job)
        return bool(leased)

    cluster_support.wait_for(queued, timeout=120, interval=0.1, what=f"the {kind} job")
    return leased[0]


def _pool(config: Path) -> dict[str, dict[str, str]]:
    pool = json.loads(cli.run(config, "pool", "status", "-o", "json").out)
    return {ns["name"]: ns for ns in pool["namespaces"]}


def test_a_stuck_delete_is_told_retried_and_force_released(hard: tuple[Server, Path]) -> None:
    server, config = hard
    created = _create(config, "pool-a")
    assert cli.run(config, "deployment", "delete", "etl", "--yes").code == 0
    job = _leased(server, commander_jobs.JobKind.UNINSTALL)
    commander_jobs.fail(server.platform, job.job.id, worker_id="test", error="connection refused", temporary=False)

    again = cli.run(config, "deployment", "delete", "etl", "--yes")
    assert again.code == 1
    assert f"Deployment {created['releaseName']} is already deleted: deleted at " in again.err
    assert "uninstall failed: connection refused" in again.err
    assert f"airpool deployment retry {created['id']}" in again.err

    status = cli.run(config, "deployment", "status", "etl")
    assert status.code == 0, status
    assert "Status:        deleting" in status.out
    jobs = json.loads(cli.run(config, "deployment", "jobs", "etl", "-o", "json").out)
    assert (jobs[0]["kind"], jobs[0]["state"], jobs[0]["lastError"]) == ("uninstall", "failed", "connection refused")

    retried = cli.run(config, "deployment", "retry", "etl")
    assert retried.code == 0, retried
    assert f"Queued the uninstall of Deployment {created['releaseName']} again (job {job.job.id})" in retried.out
    job = _leased(server, commander_jobs.JobKind.UNINSTALL)
    commander_jobs.fail(server.platform, job.job.id, worker_id="test", error="forbidden", temporary=False)

    plain = cli.run(config, "pool", "release", "pool-a", "--yes")
    assert plain.code == 1
    assert "airpool pool release --force pool-a" in plain.err
    forced = cli.run(config, "pool", "release", "pool-a", "--force", "--yes")
    assert forced.code == 0, forced
    assert forced.out.startswith("Namespace pool-a is now misconfigured.\nforce-released by an admin")
    assert _pool(config)["pool-a"]["state"] == "misconfigured"
    pool.record_health(server.platform, "pool-a", ok=True)  # commander's check finds it clean (played here)
    assert _pool(config)["pool-a"]["state"] == "available"
    gone = cli.run(config, "deployment", "status", "etl")
    assert gone.code == 1
    assert "no Deployment 'etl' in this workspace" in gone.err


def test_delete_wait_ends_when_the_namespace_left_the_pool(hard: tuple[Server, Path]) -> None:
    server, config = hard
    _create(config, "pool-b")
    platforms.with_pool(server.platform, ("pool-a",))  # the admin shrinks the pool while pool-b is held
    deleting = cli.Piped(config, "deployment", "delete", "etl", "--yes", "--wait", "--timeout", "600")
    job = _leased(server, commander_jobs.JobKind.UNINSTALL)
    deleting.wait_for_line("commander is removing the objects")
    commander_jobs.complete(server.platform, job.job.id, worker_id="test")
    result = deleting.finish()
    assert result.code == 0, result
    assert result.out.splitlines()[-1].startswith(
        "The Deployment's objects are removed; namespace pool-b is not offered right now (it left the pool"
    )
    assert _pool(config)["pool-b"]["state"] == "retired"


def test_delete_wait_shows_commanders_retries_and_their_reason(hard: tuple[Server, Path]) -> None:
    server, config = hard
    _create(config, "pool-a")
    deleting = cli.Piped(config, "deployment", "delete", "etl", "--yes", "--wait", "--timeout", "600")
    job = _leased(server, commander_jobs.JobKind.UNINSTALL)
    commander_jobs.fail(server.platform, job.job.id, worker_id="test", error="connection refused", temporary=True)
    line = deleting.wait_for_line("uninstall attempt 1 failed, retrying at ")
    assert line.endswith(": connection refused")
    assert cli.run(config, "deployment", "retry", "etl").code == 0  # run it now instead of after the backoff
    job = _leased(server, commander_jobs.JobKind.UNINSTALL)
    commander_jobs.complete(server.platform, job.job.id, worker_id="test")
    result = deleting.finish()
    assert result.code == 0, result
    assert result.out.splitlines()[-1] == "Namespace pool-a is back in the pool."


def test_the_soft_deleted_holder_of_a_release_name_is_named(soft: tuple[Server, Path]) -> None:
    server, config = soft
    created = _create(config, "pool-a", "--release-name", "nightly-etl")
    assert cli.run(config, "deployment", "delete", "etl", "--yes").code == 0
    commander_jobs.complete(server.platform, _leased(server, commander_jobs.JobKind.UNINSTALL).job.id, worker_id="test")
    assert cli.run(config, "deployment", "list", "-o", "json").out.strip() == "[]"
    taken = cli.run(config, "deployment", "create", "-l", "new", "-n", "pool-b", "--release-name", "nightly-etl")
    assert taken.code == 1
    assert f"release name 'nightly-etl' is held by soft-deleted Deployment 'etl' ({created['id']})" in taken.err
    assert "a system admin can free it now with `airpool pool release pool-a`" in taken.err
    assert cli.run(config, "pool", "release", "pool-a", "--yes").code == 0
    assert _create(config, "pool-b", "--release-name", "nightly-etl")["releaseName"] == "nightly-etl"
