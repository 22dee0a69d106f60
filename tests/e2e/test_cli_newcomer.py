"""A newcomer's first hour with the CLI (issue 16), each step in a real pseudo-terminal where a person would see it.

The server is the real app served in-process on SQLite; where commander's part matters (a soft delete turning
``retained``), the test plays it through the same services calls commander makes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airpool.config.model import AirflowDefaults, PlatformConfig
from airpool.services import commander_jobs
from airpool.services.platform import Platform
from tests.support import cli
from tests.support import platform as platforms
from tests.support.api_server import PASSWORD, GraphQL, MovableClock, make_platform, running_app
from tests.support.postgres import free_port

pytestmark = pytest.mark.slow

POOL = ("airflow-pool-1", "airflow-pool-2", "airflow-pool-3")


@dataclasses.dataclass
class Server:
    platform: Platform
    base: str
    config: Path


def _serve(tmp_path: Path, cfg: PlatformConfig) -> Iterator[Server]:
    plat = make_platform(f"sqlite:///{tmp_path / 'airpool.db'}", cfg, clock=MovableClock())
    with running_app(plat) as base:
        GraphQL(base).signup("admin")
        config = cli.login(tmp_path / "cli" / "config.yaml", base, username="admin", password=PASSWORD)
        yield Server(plat, base, config)
    plat.close()


@pytest.fixture
def hard(tmp_path: Path) -> Iterator[Server]:
    """Hard delete allowed (and the default), Kubernetes executor by default."""
    cfg = platforms.config(pool_names=POOL, hard_delete=True, retention_days=7)
    yield from _serve(tmp_path, dataclasses.replace(cfg, airflow=AirflowDefaults(executor="KubernetesExecutor")))


@pytest.fixture
def soft(tmp_path: Path) -> Iterator[Server]:
    """Only soft deletes: data kept for 7 days."""
    yield from _serve(tmp_path, platforms.config(pool_names=POOL, hard_delete=False, retention_days=7))


def _create(server: Server, namespace: str, label: str = "etl", *extra: str) -> dict[str, str]:
    result = cli.run(server.config, "deployment", "create", "-l", label, "-n", namespace, "-o", "json", *extra)
    assert result.code == 0, result
    created: dict[str, str] = json.loads(result.out)
    return created


def _labels(server: Server) -> list[str]:
    return [d["label"] for d in json.loads(cli.run(server.config, "deployment", "list", "-o", "json").out)]


def _plain(text: str) -> str:
    """What the terminal shows, without its escape sequences (rich styles help even with NO_COLOR)."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


# (9) help --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [("deployment", "delete"), ("deployment", "create"), ("pool", "release"), ("serve",), ("config", "validate")],
)
def test_help_shows_flags_without_a_value(tmp_path: Path, command: tuple[str, ...]) -> None:
    child = cli.spawn(tmp_path / "config.yaml", *command, "--help", columns=120)
    text = _plain(child.read())
    assert cli.finish(child) == 0
    assert "--help" in text
    assert "<bool>" not in text, text
    assert re.search(r"--help\s+-h\s+Show this message", text), text


# (2) an unknown namespace ------------------------------------------------------------------------------------------


def test_a_mistyped_namespace_gets_the_closest_free_one_and_the_list(hard: Server) -> None:
    _create(hard, "airflow-pool-1", "first")
    child = cli.spawn(hard.config, "deployment", "create", "--label", "typo", "--namespace", "airflow-pool-22")
    child.expect("Error: ")
    text = " ".join(child.read().split())  # the terminal wraps long lines
    assert cli.finish(child) == 1
    assert "namespace 'airflow-pool-22' is not in the namespace pool" in text
    assert "did you mean 'airflow-pool-2'? available: airflow-pool-2, airflow-pool-3" in text
    assert _labels(hard) == ["first"]

    taken = cli.run(hard.config, "deployment", "create", "-l", "again", "-n", "airflow-pool-1")
    assert taken.code == 1
    assert "namespace 'airflow-pool-1' is not available: it is used by another Deployment" in taken.err
    assert "available: airflow-pool-2, airflow-pool-3" in taken.err


# (3) the server's defaults, and the delete the server will do ----------------------------------------------------


def test_create_takes_the_servers_default_executor_unless_told(hard: Server) -> None:
    child = cli.spawn(hard.config, "deployment", "create", "--label", "plain", "--namespace", "airflow-pool-1")
    child.expect(r"Created Deployment 'plain': .* KubernetesExecutor")
    assert cli.finish(child) == 0
    assert _create(hard, "airflow-pool-2", "celery", "--executor", "celery")["executor"] == "CeleryExecutor"


def test_delete_says_it_is_a_hard_delete_and_no_deletes_nothing(hard: Server) -> None:
    created = _create(hard, "airflow-pool-1")
    child = cli.spawn(hard.config, "deployment", "delete", "etl")
    child.expect("Hard delete: commander removes the Deployment's objects and data for good")
    child.expect("--soft keeps its data")
    child.expect(rf"Hard-delete Deployment 'etl' \({created['releaseName']}\) in namespace airflow-pool-1\? \[y/N\]")
    child.sendline("n")
    child.expect("Nothing deleted.")
    assert cli.finish(child) == 0
    assert _labels(hard) == ["etl"]

    child = cli.spawn(hard.config, "deployment", "delete", "etl", "--soft")
    child.expect("Soft delete: the Deployment stops, its data is kept for the retention period")
    child.expect(r"Soft-delete Deployment 'etl' .*\? \[y/N\]")
    child.sendline("y")
    child.expect(r"Deleted Deployment 'etl' .* \(soft delete\)")
    child.expect("kept until 20")
    assert cli.finish(child) == 0
    assert _labels(hard) == []


def test_a_soft_only_server_says_so_and_refuses_hard(soft: Server) -> None:
    _create(soft, "airflow-pool-1")
    refused = cli.run(soft.config, "deployment", "delete", "etl", "--hard", "--yes")
    assert refused.code == 1
    assert "does not allow hard deletes" in refused.err
    child = cli.spawn(soft.config, "deployment", "delete", "etl")
    child.expect("Soft delete: ")
    child.expect(r"\? \[y/N\]")
    assert "--hard" not in child.before
    child.sendline("")  # Enter takes the default: no
    child.expect("Nothing deleted.")
    assert cli.finish(child) == 0


# (6) releasing a retained namespace asks first -----------------------------------------------------------------


def _retain(server: Server, namespace: str) -> None:
    """Soft-delete a Deployment in ``namespace`` and play commander's uninstall: the namespace is retained."""
    _create(server, namespace, "old")
    assert cli.run(server.config, "deployment", "delete", "old", "--yes").code == 0
    job = commander_jobs.lease(server.platform, worker_id="test-commander", kinds=(commander_jobs.JobKind.UNINSTALL,))
    assert job is not None
    commander_jobs.complete(server.platform, job.job.id, worker_id="test-commander")


def _state(server: Server, namespace: str) -> str:
    pool = json.loads(cli.run(server.config, "pool", "status", "-o", "json").out)
    return str({ns["name"]: ns for ns in pool["namespaces"]}[namespace]["state"])


def test_pool_release_asks_before_ending_the_retention(soft: Server) -> None:
    _retain(soft, "airflow-pool-2")
    assert _state(soft, "airflow-pool-2") == "retained"

    piped = cli.run(soft.config, "pool", "release", "airflow-pool-2")
    assert piped.code == 2
    assert "pass --yes to release" in piped.err

    child = cli.spawn(soft.config, "pool", "release", "airflow-pool-2")
    child.expect("keeps the data of the deleted Deployment old")
    child.expect(r"Release namespace airflow-pool-2 now\? \[y/N\]")
    child.sendline("n")
    child.expect("Nothing released.")
    assert cli.finish(child) == 0
    assert _state(soft, "airflow-pool-2") == "retained"

    child = cli.spawn(soft.config, "pool", "release", "airflow-pool-2")
    child.expect(r"\[y/N\]")
    child.sendline("y")
    child.expect("Namespace airflow-pool-2 is released: commander removes the data")
    assert cli.finish(child) == 0


# (8) tables never cut what people copy -------------------------------------------------------------------------


def test_narrow_terminals_keep_ids_names_and_times_whole(soft: Server) -> None:
    created = _create(soft, "airflow-pool-1", "a rather long label for a deployment")
    _retain(soft, "airflow-pool-3")
    releases_at = json.loads(cli.run(soft.config, "pool", "status", "-o", "json").out)["nextRelease"]
    for columns in (100, 80, 60):
        child = cli.spawn(soft.config, "deployment", "list", columns=columns)
        text = _plain(child.read())
        assert cli.finish(child) == 0
        assert created["id"] in text, (columns, text)
        assert created["releaseName"] in text, (columns, text)
        child = cli.spawn(soft.config, "pool", "status", columns=columns)
        text = _plain(child.read())
        assert cli.finish(child) == 0
        assert releases_at in text, (columns, text)
        assert all(name in text for name in POOL), (columns, text)


# (11) hints name the command the way it was run ------------------------------------------------------------------


def test_hints_name_the_command_as_the_user_ran_it(hard: Server) -> None:
    venv_bin = Path(cli.AIRPOOL[0]).parent
    checkout = venv_bin.parents[1]
    relative = os.path.relpath(cli.AIRPOOL[0], checkout)  # .venv/bin/airpool, as the README runs it
    env = cli.cli_env(hard.config)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != venv_bin)
    created = subprocess.run(
        [relative, "deployment", "create", "-l", "hinted", "-n", "airflow-pool-1"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created
    assert f"Follow it with `{relative} deployment wait " in created.stdout

    unknown = subprocess.run(
        [relative, "deployment", "status", "nope"], cwd=checkout, env=env, capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode == 1
    assert f"see `{relative} deployment list`" in unknown.stderr

    on_path = cli.run(hard.config, "deployment", "create", "-l", "plain", "-n", "airflow-pool-2")
    assert "Follow it with `airpool deployment wait " in on_path.out

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([relative, *args], cwd=checkout, env=env, capture_output=True, text=True, timeout=60)

    # A retry's and a release's hints too (they said plain `airpool`, "command not found" from the README's steps).
    retried = run("deployment", "retry", "hinted")
    assert retried.returncode == 0, retried
    assert (
        f"Follow it with `{relative} deployment status {created.stdout.split('release name ')[1].split(',')[0]}`"
        in (retried.stdout)
    ), retried
    assert run("deployment", "delete", "plain", "--soft", "--yes").returncode == 0
    while (job := commander_jobs.lease(hard.platform, worker_id="test-commander")) is not None:
        commander_jobs.complete(hard.platform, job.job.id, worker_id="test-commander")
    assert _state(hard, "airflow-pool-2") == "retained"
    released = run("pool", "release", "airflow-pool-2", "--yes")
    assert released.returncode == 0, released
    assert f"(`{relative} pool status` shows when it is available)" in released.stdout, released


# (10, 12) serve: quiet about requests, and Ctrl-C is a normal way to stop ---------------------------------------


def _spawn_serve(tmp_path: Path, *extra: str) -> tuple[Any, str]:
    import pexpect

    values = tmp_path / "values.yaml"
    values.write_text(f"airpool:\n  dataDir: {tmp_path / 'data'}\n")
    port = free_port()
    env = cli.cli_env(
        tmp_path / "config.yaml",
        AIRPOOL_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        AIRPOOL_ADMIN_USERNAME="admin",
        AIRPOOL_ADMIN_PASSWORD=PASSWORD,
    )
    args = ["serve", "-f", str(values), "--port", str(port), "--no-commander", "--migrate", *extra]
    child = pexpect.spawn(cli.AIRPOOL[0], args, env=env, encoding="utf-8", dimensions=(40, 160), timeout=120)
    child.expect("airpool is serving at")
    child.expect("stop           Ctrl-C")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:  # the banner comes just before uvicorn binds the port
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return child, base
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "serve did not answer /healthz"
        time.sleep(0.1)


def _stop(child: Any) -> str:
    child.sendintr()  # Ctrl-C at the terminal
    child.expect("Goodbye.")
    rest = str(child.before)
    assert cli.finish(child) == 0
    return rest


def test_serve_keeps_requests_out_of_the_log_and_ends_with_a_goodbye_on_ctrl_c(tmp_path: Path) -> None:
    child, base = _spawn_serve(tmp_path)
    for _ in range(5):
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        assert httpx.get(f"{base}/login", timeout=10).status_code == 200
    assert GraphQL(base).login("admin").data("{ self { username } }")["self"]["username"] == "admin"
    rest = _stop(child)
    assert "GET /healthz" not in rest
    assert "POST /v1" not in rest
    assert "Error" not in rest
    assert "Traceback" not in rest


def test_serve_access_log_logs_every_request_when_asked(tmp_path: Path) -> None:
    child, base = _spawn_serve(tmp_path, "--access-log")
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    child.expect("GET /healthz")
    _stop(child)


# (15) workspaces from the CLI ---------------------------------------------------------------------------------------


def test_workspace_create_list_and_switch(hard: Server) -> None:
    child = cli.spawn(hard.config, "workspace", "create", "Research", "--description", "experiments")
    child.expect(r"Created workspace Research \(([0-9a-f-]{36})\); you are its admin\.")
    research = child.match.group(1)
    child.expect(f"Act in it with `airpool workspace switch {research}`")
    assert cli.finish(child) == 0

    child = cli.spawn(hard.config, "workspace", "list")
    text = _plain(child.read())
    assert cli.finish(child) == 0
    assert re.search(rf"{research}\s+Research\s+admin\s+experiments", text), text
    assert "Logged in as admin, system admin." in text

    empty = cli.run(hard.config, "workspace", "create", "  ")
    assert empty.code == 1
    assert "workspace label must not be empty" in empty.err

    switched = cli.run(hard.config, "workspace", "create", "Ops", "--switch")
    assert switched.code == 0, switched
    assert "Switched to workspace Ops." in switched.out
    assert _create(hard, "airflow-pool-1", "in-ops")["workspace"]["label"] == "Ops"
    assert cli.run(hard.config, "workspace", "switch", "Research").code == 0
    assert _labels(hard) == []
