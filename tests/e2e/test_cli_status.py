"""The ``airpool`` CLI against the real app served in-process, where the test plays commander's part.

Commander reports through ``services.commander_jobs`` (status and messages, job completion); calling those same
functions here lets the tests show what the CLI does with each report (``status``, ``wait``'s spinner, soft
delete and early release) without a cluster. The clock is movable, so an expired token is a real expiry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airpool.config.model import PlatformConfig
from airpool.domain.deployments import DeploymentStatus
from airpool.services import commander_jobs, views
from airpool.services.platform import Platform
from tests.support import cli
from tests.support import cluster as cluster_support
from tests.support import platform as platforms
from tests.support.api_server import PASSWORD, GraphQL, MovableClock, make_platform, running_app

pytestmark = pytest.mark.slow

FORBIDDEN = (
    'serviceaccounts is forbidden: User "system:serviceaccount:astronomer:astronomer-commander" cannot create '
    'resource "serviceaccounts" in API group "" in the namespace "pool-a"'
)


class Server:
    def __init__(self, platform: Platform, base: str, clock: MovableClock) -> None:
        self.platform = platform
        self.base = base
        self.clock = clock


def _serve(tmp_path: Path, cfg: PlatformConfig, *, signup: bool = True) -> Iterator[Server]:
    clock = MovableClock()
    plat = make_platform(f"sqlite:///{tmp_path / 'airpool.db'}", cfg, clock=clock)
    with running_app(plat) as base:
        if signup:
            GraphQL(base).signup("admin")
        yield Server(plat, base, clock)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    yield from _serve(tmp_path, platforms.config(pool_names=("pool-a", "pool-b"), hard_delete=False, retention_days=7))


@pytest.fixture
def config(tmp_path: Path, server: Server) -> Path:
    return cli.login(tmp_path / "cli" / "config.yaml", server.base, username="admin", password=PASSWORD)


def _create(config: Path, namespace: str = "pool-a", label: str = "etl") -> dict[str, str]:
    result = cli.run(config, "deployment", "create", "-l", label, "-n", namespace, "-o", "json")
    assert result.code == 0, result
    created: dict[str, str] = json.loads(result.out)
    return created


def test_status_shows_commanders_latest_message(server: Server, config: Path) -> None:
    created = _create(config)
    commander_jobs.report_status(server.platform, created["id"], status=DeploymentStatus.FAILED, message=FORBIDDEN)
    result = cli.run(config, "deployment", "status", "etl")
    assert result.code == 0
    lines = result.out.splitlines()
    assert "Status:        failed" in lines
    assert f"Message:       {FORBIDDEN}" in lines
    assert "Namespace:     pool-a" in lines
    listed = cli.run(config, "deployment", "list").out
    assert "failed" in listed


def test_wait_prints_each_phase_when_piped_and_ends_healthy(server: Server, config: Path) -> None:
    """The test reports each phase once the CLI has shown the previous one: what it checks is that every phase
    the CLI sees is printed, whatever the machine's speed."""
    created = _create(config)
    name = created["releaseName"]
    waiting = cli.Piped(config, "deployment", "wait", "etl", "--interval", "0.2", "--timeout", "600")
    waiting.wait_for_line(f"etl ({name}): deploying - queued for install")
    commander_jobs.report_status(
        server.platform, created["id"], status=DeploymentStatus.DEPLOYING, message="2/5 workloads ready"
    )
    waiting.wait_for_line(f"etl ({name}): deploying - 2/5 workloads ready")
    commander_jobs.report_status(
        server.platform, created["id"], status=DeploymentStatus.HEALTHY, message="every workload is ready"
    )
    result = waiting.finish()
    assert result.code == 0, result
    phases = result.err.splitlines()
    assert phases == [
        f"etl ({name}): deploying - queued for install",
        f"etl ({name}): deploying - 2/5 workloads ready",
        f"etl ({name}): healthy - every workload is ready",
    ]
    assert result.out.strip() == f"Deployment 'etl' ({name}) is healthy."


def test_wait_shows_a_spinner_in_a_terminal_and_fails_with_the_message(server: Server, config: Path) -> None:
    created = _create(config)
    child = cli.spawn(config, "deployment", "wait", "etl", "--interval", "0.2")
    child.expect("[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] etl")  # rich's spinner frames before the phase
    child.expect(": deploying")
    commander_jobs.report_status(server.platform, created["id"], status=DeploymentStatus.FAILED, message=FORBIDDEN)
    child.expect(f"Error: Deployment {created['releaseName']} is failed: serviceaccounts is forbidden")
    assert cli.finish(child) == 1


def test_wait_gives_up_after_the_timeout(server: Server, config: Path) -> None:
    created = _create(config)
    result = cli.run(config, "deployment", "wait", created["releaseName"], "--timeout", "1", "--interval", "0.2")
    assert result.code == 1
    assert f"Deployment {created['releaseName']} is still deploying after 1 s" in result.err


def test_soft_delete_says_when_the_namespace_returns_and_admin_releases_it_early(server: Server, config: Path) -> None:
    created = _create(config, namespace="pool-b")
    result = cli.run(config, "deployment", "delete", "etl", "--yes")
    assert result.code == 0, result
    assert "Soft delete: namespace pool-b and the Deployment's data are kept until 20" in result.out
    assert "`airpool pool release pool-b`" in result.out

    # commander removes the objects: the namespace is retained until the retention period ends
    job = commander_jobs.lease(server.platform, worker_id="test-commander", kinds=(commander_jobs.JobKind.UNINSTALL,))
    assert job is not None
    assert job.deployment is not None
    assert job.deployment.id == created["id"]
    commander_jobs.complete(server.platform, job.job.id, worker_id="test-commander")
    pool = json.loads(cli.run(config, "pool", "status", "-o", "json").out)
    retained = {ns["name"]: ns for ns in pool["namespaces"]}["pool-b"]
    assert retained["state"] == "retained"
    assert pool["nextRelease"] == retained["releasesAt"]
    text = cli.run(config, "pool", "status").out
    assert "2 namespaces: 1 available, 1 retained; next retained one returns at" in text

    not_retained = cli.run(config, "pool", "release", "pool-a", "--yes")
    assert not_retained.code == 1
    assert "pool-a" in not_retained.err
    released = cli.run(config, "pool", "release", "pool-b", "--yes")
    assert released.code == 0, released
    assert released.out.strip().startswith("Namespace pool-b is released: commander removes the data its deleted")
    listed = json.loads(cli.run(config, "pool", "status", "-o", "json").out)["namespaces"]
    states = {ns["name"]: ns["state"] for ns in listed}
    assert states["pool-b"] == "misconfigured"  # offered only once commander's check after the purge finds it clean


def test_expired_token_asks_to_log_in_again(server: Server, config: Path) -> None:
    assert cli.run(config, "deployment", "list").code == 0
    server.clock.advance(seconds=server.platform.session_ttl_seconds + 60)
    result = cli.run(config, "deployment", "list")
    assert result.code == 1
    assert f"your token for {server.base} has expired or is no longer valid" in result.err
    assert f"log in again with `airpool login {server.base}`" in result.err
    assert cli.run(config, "login", "-u", "admin", AIRPOOL_PASSWORD=PASSWORD).code == 0  # the context's server
    assert cli.run(config, "deployment", "list").code == 0


def test_viewer_is_refused_pool_status(server: Server, config: Path) -> None:
    admin = GraphQL(server.base).login("admin")
    admin.data(
        "mutation($e: String!, $p: String!, $u: String) { createUser(email: $e, password: $p, username: $u) "
        "{ user { id } } }",
        {"e": "bob@example.com", "p": PASSWORD, "u": "bob"},
    )
    bob = config.parent / "bob.yaml"
    cli.login(bob, server.base, username="bob", password=PASSWORD)
    result = cli.run(bob, "pool", "status")
    assert result.code == 1
    assert "You do not have the appropriate permissions for that" in result.err


@pytest.fixture
def free_form_config(tmp_path: Path) -> Iterator[Path]:
    for server in _serve(tmp_path, platforms.config(pool_names=None, free_form=True)):
        path = tmp_path / "cli" / "config.yaml"
        cli.login(path, server.base, username="admin", password=PASSWORD)
        yield path


def test_free_form_mode_asks_for_a_name_and_checks_it(free_form_config: Path) -> None:
    child = cli.spawn(free_form_config, "deployment", "create", "-l", "typed")
    child.expect("Kubernetes namespace: ")
    child.sendline("Not_Valid")
    child.expect("namespace 'Not_Valid' must consist of lower case alphanumeric characters")
    child.expect("Kubernetes namespace: ")
    child.sendline("team-data")
    child.expect("namespace team-data")
    assert cli.finish(child) == 0
    piped = cli.run(free_form_config, "deployment", "create", "-l", "x")
    assert piped.code == 2
    assert "this server wants a namespace name" in piped.err


def test_workspace_switch_in_a_terminal(server: Server, config: Path) -> None:
    admin = GraphQL(server.base).login("admin")
    second = admin.data('mutation { createWorkspace(label: "second team") { id } }')["createWorkspace"]["id"]
    child = cli.spawn(config, "workspace", "switch")
    child.expect("Choose a workspace")
    child.send("second")
    child.expect(f"> second team  \\({second}\\)")
    child.send("\r")
    child.expect(f"Switched to workspace second team \\({second}\\)")
    assert cli.finish(child) == 0
    listed = json.loads(cli.run(config, "context", "list", "-o", "json").out)
    assert listed[0]["workspaceId"] == second
    assert cli.run(config, "deployment", "list", "-o", "json").out.strip() == "[]"
    unknown = cli.run(config, "workspace", "switch", "nope")
    assert unknown.code == 1
    assert "no workspace with id or label 'nope'" in unknown.err


def test_tables_on_a_terminal_are_drawn_and_coloured(server: Server, config: Path) -> None:
    created = _create(config)
    child = cli.spawn(config, "deployment", "list", color=True)
    child.expect("\x1b\\[1mLABEL")  # a bold header
    child.expect("RELEASE NAME")
    child.expect("─────")  # the rule under the header
    child.expect(r"etl\s+" + created["releaseName"])
    child.expect("\x1b\\[33mdeploying")  # the phase in yellow
    assert cli.finish(child) == 0
    piped = cli.run(config, "deployment", "list", color=True)
    assert "\x1b[" not in piped.out
    assert "─" not in piped.out


def test_login_on_an_installation_without_users_says_to_sign_up(tmp_path: Path) -> None:
    for server in _serve(tmp_path, platforms.config(pool_names=("pool-a",)), signup=False):
        result = cli.run(tmp_path / "c.yaml", "login", server.base, "-u", "admin", AIRPOOL_PASSWORD=PASSWORD)
        assert result.code == 1
        assert f"{server.base} has no users yet: sign up at {server.base}/ first" in result.err
        assert not (tmp_path / "c.yaml").exists()


def test_create_with_wait_prints_json_then_waits_for_commander(server: Server, config: Path) -> None:
    creating = cli.Piped(config, "deployment", "create", "-l", "etl", "-n", "pool-a", "--wait", "-o", "json")
    job = _leased(server, commander_jobs.JobKind.INSTALL)
    assert job.deployment is not None
    commander_jobs.report_status(
        server.platform, job.deployment.id, status=DeploymentStatus.HEALTHY, message="every workload is ready"
    )
    commander_jobs.complete(server.platform, job.job.id, worker_id="test")
    result = creating.finish()
    assert result.code == 0, result
    created = json.loads(result.out)  # stdout holds only the JSON
    assert created["namespace"] == "pool-a"
    assert result.err.strip() == f"Deployment 'etl' ({created['releaseName']}) is healthy."


def test_hard_delete_is_refused_where_the_configuration_forbids_it(server: Server, config: Path) -> None:
    _create(config, namespace="pool-b")
    result = cli.run(config, "deployment", "delete", "etl", "--hard", "--yes")
    assert result.code == 1
    assert "this server does not allow hard deletes" in result.err
    assert "hardDeleteDeployment is false" in result.err
    assert _pool_states(config)["pool-b"] == "claimed"


def _leased(server: Server, kind: commander_jobs.JobKind) -> views.LeasedJob:
    """Play commander: lease the job the CLI's request queued, once it is there."""
    leased: list[views.LeasedJob] = []

    def queued() -> bool:
        job = commander_jobs.lease(server.platform, worker_id="test", kinds=(kind,))
        if job is not None:
            leased.append(job)
        return bool(leased)

    cluster_support.wait_for(queued, timeout=120, interval=0.1, what=f"the {kind} job")
    return leased[0]


def _pool_states(config: Path) -> dict[str, str]:
    pool = json.loads(cli.run(config, "pool", "status", "-o", "json").out)
    return {ns["name"]: ns["state"] for ns in pool["namespaces"]}


@pytest.fixture
def hard_config(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    for server in _serve(tmp_path, platforms.config(pool_names=("pool-a", "pool-b"), hard_delete=True)):
        yield server, cli.login(tmp_path / "cli" / "config.yaml", server.base, username="admin", password=PASSWORD)


def test_hard_delete_with_wait_ends_when_the_namespace_is_back(hard_config: tuple[Server, Path]) -> None:
    server, config = hard_config
    created = _create(config, namespace="pool-b")

    deleting = cli.Piped(config, "deployment", "delete", "etl", "--hard", "--yes", "--wait", "--timeout", "600")
    job = _leased(server, commander_jobs.JobKind.UNINSTALL)
    deleting.wait_for_line("commander is removing the objects")  # the CLI waits while the objects go
    commander_jobs.complete(server.platform, job.job.id, worker_id="test")
    result = deleting.finish()
    assert result.code == 0, result
    assert result.out.splitlines()[-1] == "Namespace pool-b is back in the pool."
    assert f"namespace pool-b: commander is removing the objects of {created['releaseName']}" in result.err
    assert _pool_states(config)["pool-b"] == "available"
