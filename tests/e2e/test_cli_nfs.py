"""``airpool deployment create --nfs-location`` against a real ``airpool serve`` (SQLite, a pool, no commander):
sent only where the server enables NFS DAG deploys, the location checked before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import cli
from tests.support.api_server import PASSWORD, serve_process

pytestmark = pytest.mark.slow


def _login(tmp_path: Path, *, nfs: bool) -> Iterator[Path]:
    values = tmp_path / "values.yaml"
    values.write_text(
        "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n"
        "        create: true\n        names: [pool-a, pool-b]\n"
        f"astronomer:\n  houston:\n    config:\n      deployments:\n        nfsMountDagDeployment: {str(nfs).lower()}\n"
    )
    env = {"AIRPOOL_ADMIN_USERNAME": "admin", "AIRPOOL_ADMIN_PASSWORD": PASSWORD}
    with serve_process(
        values=values, database_url=f"sqlite:///{tmp_path / 'airpool.db'}", extra_args=["--migrate"], env=env
    ) as served:
        yield cli.login(tmp_path / "cli" / "config.yaml", served.base, username="admin", password=PASSWORD)


@pytest.fixture
def nfs_on(tmp_path: Path) -> Iterator[Path]:
    yield from _login(tmp_path, nfs=True)


@pytest.fixture
def nfs_off(tmp_path: Path) -> Iterator[Path]:
    yield from _login(tmp_path, nfs=False)


def _count(config: Path) -> int:
    listed = cli.run(config, "deployment", "list", "-o", "json")
    assert listed.code == 0, listed
    return len(json.loads(listed.out))


def test_nfs_location_creates_an_nfs_deployment(nfs_on: Path) -> None:
    made = cli.run(nfs_on, "deployment", "create", "-l", "nfs", "-n", "pool-a", "--nfs-location", "fs-1:/dags")
    assert made.code == 0, made
    assert "DAGs: read-only from NFS fs-1:/dags" in made.out
    shown = cli.run(nfs_on, "deployment", "status", "nfs")
    assert shown.code == 0, shown
    assert "NFS (read-only) fs-1:/dags" in shown.out
    [listed] = json.loads(cli.run(nfs_on, "deployment", "list", "-o", "json").out)
    assert {k: listed["dagDeployment"][k] for k in ("type", "nfsLocation")} == {
        "type": "volume",
        "nfsLocation": "fs-1:/dags",
    }

    bad = cli.run(nfs_on, "deployment", "create", "-l", "bad", "-n", "pool-b", "--nfs-location", "fs-1")
    assert bad.code == 2, bad
    assert "nfsLocation 'fs-1': has no ':' between the server and the path; use server:/path" in bad.err
    assert _count(nfs_on) == 1


def test_nfs_location_is_refused_where_the_server_does_not_enable_nfs(nfs_off: Path) -> None:
    refused = cli.run(nfs_off, "deployment", "create", "-l", "x", "-n", "pool-a", "--nfs-location", "fs-1:/dags")
    assert refused.code == 1, refused
    assert "this server does not allow NFS DAG deploys" in refused.err
    assert "nfsMountDagDeployment is false" in refused.err
    assert "Traceback" not in refused.err
    assert _count(nfs_off) == 0
