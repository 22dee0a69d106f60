"""The whole path on a real cluster: ``airpool serve`` with its commander on the dev cluster (kwok nodes), the CLI in a
pseudo-terminal choosing a pool namespace, waiting until commander reports the Deployment healthy, and the
namespace coming back to the pool after a hard delete. A namespace whose Role is the guide's narrow hand-written Role
is found misconfigured by commander's health check and never offered.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightkube
import pytest

from airpool import devcluster
from tests.support import cli, commander_env, guide_roles
from tests.support import cluster as cluster_support
from tests.support.api_server import PASSWORD, serve_process

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Env:
    config: Path
    pool: tuple[str, str]
    broken: str


@pytest.fixture
def env(tmp_path: Path, dev_cluster: devcluster.ClusterInfo, admin_client: lightkube.Client) -> Iterator[Env]:
    with contextlib.ExitStack() as stack:
        first, second = (stack.enter_context(commander_env.pool_namespace(admin_client)) for _ in range(2))
        broken = stack.enter_context(cluster_support.fresh_namespace(admin_client, prefix="pool"))
        commander_env.admin_apply(admin_client, [guide_roles.role(broken), guide_roles.role_binding(broken)])
        values = tmp_path / "values.yaml"
        values.write_text(
            "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n"
            f"        create: false\n        names: [{first}, {second}, {broken}]\n"
            f"airpool:\n  dataDir: {tmp_path / 'data'}\n"
        )
        served = stack.enter_context(
            serve_process(
                values=values,
                database_url=f"sqlite:///{tmp_path / 'airpool.db'}",
                extra_args=["--migrate"],
                env={
                    "AIRPOOL_ADMIN_USERNAME": "admin",
                    "AIRPOOL_ADMIN_PASSWORD": PASSWORD,
                    "AIRPOOL_COMMANDER_KUBECONFIG": str(dev_cluster.commander_kubeconfig),
                },
                commander=True,
            )
        )
        config = cli.login(tmp_path / "cli" / "config.yaml", served.base, username="admin", password=PASSWORD)
        yield Env(config=config, pool=(first, second), broken=broken)


def _pool(config: Path) -> dict[str, dict[str, Any]]:
    result = cli.run(config, "pool", "status", "-o", "json")
    assert result.code == 0, result
    return {ns["name"]: ns for ns in json.loads(result.out)["namespaces"]}


def _until_state(config: Path, name: str, state: str, *, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        namespace = _pool(config)[name]
        if namespace["state"] == state or time.monotonic() > deadline:
            assert namespace["state"] == state, namespace
            return namespace
        time.sleep(1)


def test_choose_a_namespace_wait_until_healthy_and_get_it_back(env: Env) -> None:
    first, second = env.pool
    broken = _until_state(env.config, env.broken, "misconfigured")
    assert f"in namespace {env.broken}" in broken["healthReason"]

    child = cli.spawn(env.config, "deployment", "create", "--label", "etl", "--executor", "local")
    child.expect("Choose a Kubernetes namespace")
    child.send(env.broken)  # misconfigured: not offered
    child.expect(f"no match for '{env.broken}'")
    child.sendcontrol("u")
    child.send(second)
    child.expect(f"> {second}")
    child.send("\r")
    child.expect(rf"Created Deployment 'etl': release name ([a-z0-9-]+), namespace {second}")
    release_name = child.match.group(1)
    assert cli.finish(child) == 0

    child = cli.spawn(env.config, "deployment", "wait", release_name, "--timeout", "240", "--interval", "1")
    child.expect(f"etl \\({release_name}\\): deploying")
    child.expect(f"Deployment 'etl' \\({release_name}\\) is healthy", timeout=240)
    assert cli.finish(child) == 0
    status = cli.run(env.config, "deployment", "status", release_name).out.splitlines()
    assert "Status:        healthy" in status
    assert f"Namespace:     {second}" in status

    child = cli.spawn(env.config, "deployment", "create", "--label", "next")
    child.expect(f"> {first}")
    child.send(second)  # held by etl now
    child.expect(f"no match for '{second}'")
    child.sendcontrol("c")
    assert cli.finish(child) == 1

    deleted = cli.run(env.config, "deployment", "delete", release_name, "--hard", "--yes", "--wait", timeout=300)
    assert deleted.code == 0, deleted
    assert f"Namespace {second} is freed as soon as commander has removed the Deployment's objects" in deleted.out
    assert deleted.out.splitlines()[-1] == f"Namespace {second} is back in the pool."
    assert _pool(env.config)[second]["state"] == "available"
    again = cli.run(env.config, "deployment", "create", "-l", "again", "--namespace", second)
    assert again.code == 0, again
