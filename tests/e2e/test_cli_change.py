"""``airpool deployment update|upgrade|deploy-image|variables`` against the real app served in-process; the test
plays commander's part through the same service functions commander calls (``services.upgrades``,
``commander_jobs``), so ``--wait`` shows each step and ends on success or on the failure's reason. Confirmations
and the version menu run in a real terminal (pexpect)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airpool.domain.deployments import DeploymentStatus
from airpool.services import access, commander_jobs, deployments, upgrades, variables
from airpool.services.platform import Platform
from tests.support import cli
from tests.support import platform as platforms
from tests.support.api_server import PASSWORD, GraphQL, MovableClock, make_platform, running_app

pytestmark = pytest.mark.slow

SECRET = "tok-never-printed-42"


class Server:
    def __init__(self, platform: Platform, base: str) -> None:
        self.platform = platform
        self.base = base


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    plat = make_platform(
        f"sqlite:///{tmp_path / 'airpool.db'}",
        platforms.config(pool_names=("pool-a", "pool-b"), hard_delete=True),
        clock=MovableClock(),
    )
    with running_app(plat) as base:
        GraphQL(base).signup("admin")
        yield Server(plat, base)


@pytest.fixture
def config(tmp_path: Path, server: Server) -> Path:
    return cli.login(tmp_path / "cli" / "config.yaml", server.base, username="admin", password=PASSWORD)


def _create(config: Path, version: str = "2.11.2") -> dict[str, Any]:
    result = cli.run(
        config, "deployment", "create", "-l", "etl", "-n", "pool-a", "-a", version, "-e", "local", "-o", "json"
    )
    assert result.code == 0, result
    created: dict[str, Any] = json.loads(result.out)
    return created


def test_create_takes_only_a_version_the_server_offers(server: Server, config: Path) -> None:
    refused = cli.run(config, "deployment", "create", "-l", "etl", "-n", "pool-a", "-a", "3.1.3")
    assert refused.code == 2, refused
    assert "--airflow-version" in refused.err
    assert "'3.1.3' is not offered by this server; allowed: 2.11.2, 3.3.2" in refused.err
    assert deployments.list_visible(server.platform, SYSTEM) == []
    assert _create(config, "3.3.2")["airflowVersion"] == "3.3.2"


def _lease_upgrade(plat: Platform) -> tuple[int, str]:
    """Commander takes the Deployment's jobs: the install is done, the upgrade is the one in hand."""
    while True:
        leased = commander_jobs.lease(plat, worker_id="cli-test")
        assert leased is not None, "no job queued"
        if leased.job.kind == "upgrade":
            return leased.job.id, "cli-test"
        commander_jobs.complete(plat, leased.job.id, worker_id="cli-test")


#: Reads as the system, as commander does.
SYSTEM = access.Actor(user_id="system", username="system", is_system_admin=True)


def _admin_view(plat: Platform, dep_id: str) -> Any:
    return deployments.find(plat, SYSTEM, deployment_id=dep_id)


def test_update_changes_label_sizes_and_executor_and_refusals_change_nothing(server: Server, config: Path) -> None:
    created = _create(config)
    result = cli.run(
        config, "deployment", "update", "etl", "--label", "etl-eu", "--executor", "celery",
        "--replicas", "workers=2", "--cpu", "workers=2", "--memory", "workers=3Gi", "-o", "json",
    )  # fmt: skip
    assert result.code == 0, result
    updated = json.loads(result.out)
    assert (updated["label"], updated["executor"]) == ("etl-eu", "CeleryExecutor")
    assert updated["config"]["workers"]["replicas"] == 2
    assert updated["config"]["workers"]["resources"]["limits"] == {"cpu": "2", "memory": "3Gi"}

    before = _admin_view(server.platform, created["id"])
    for args, message in (
        (["--replicas", "workers=99"], "workers"),  # the server's limit, named by the server
        (["--replicas", "spark=2"], "component 'spark' is not known; allowed: scheduler, webserver, workers"),
        (["--replicas", "workers=two"], "replicas must be a whole number"),
        ([], "nothing to change"),
    ):
        refused = cli.run(config, "deployment", "update", "etl-eu", *args)
        assert refused.code != 0, (args, refused)
        assert message in refused.err, (args, refused)
        assert "Traceback" not in refused.err
    assert _admin_view(server.platform, created["id"]) == before


def test_upgrade_asks_in_a_terminal_and_can_be_cancelled(server: Server, config: Path) -> None:
    created = _create(config)
    release = created["releaseName"]
    # The version menu (only newer versions the server offers) and the confirmation.
    child = cli.spawn(config, "deployment", "upgrade", "etl")
    child.expect(f"Upgrade {release} from Airflow 2.11.2 to")
    child.expect("3.3.2")
    child.send("\r")
    child.expect("a migrated database is not migrated back")
    child.expect(rf"Upgrade {release} from Airflow 2\.11\.2 to 3\.3\.2\? \[y/N\]")
    child.sendline("n")
    child.expect("Nothing changed.")
    assert cli.finish(child) == 0
    assert _admin_view(server.platform, created["id"]).desired_airflow_version is None

    child = cli.spawn(config, "deployment", "upgrade", "etl", "--airflow-version", "3.3.2")
    child.expect(r"\[y/N\]")
    child.sendline("y")
    child.expect("Upgrade started.")
    child.expect(f"airpool deployment upgrade {release} --cancel")
    assert cli.finish(child) == 0
    assert _admin_view(server.platform, created["id"]).rollout_phase == "queued"

    # Without a terminal it needs --yes; a version the server does not offer is the server's refusal.
    piped = cli.run(config, "deployment", "upgrade", "etl", "--airflow-version", "3.3.2")
    assert piped.code != 0
    assert "pass --yes to upgrade" in piped.err
    # ... but a version it does not offer is said first, in a terminal before the question, piped before --yes.
    child = cli.spawn(config, "deployment", "upgrade", "etl", "--airflow-version", "9.9.9")
    child.expect(r"'9\.9\.9' is not offered by this server; allowed: 2\.11\.2, 3\.3\.2")
    assert cli.finish(child) == 2
    assert "[y/N]" not in (child.before or "")
    piped = cli.run(config, "deployment", "upgrade", "etl", "--airflow-version", "9.9.9")
    assert piped.code == 2, piped
    assert "'9.9.9' is not offered by this server" in piped.err
    assert "--yes" not in piped.err
    refused = cli.run(config, "deployment", "upgrade", "etl", "-a", "9.9.9", "--yes")
    assert refused.code == 1, refused
    assert "desiredAirflowVersion '9.9.9' is not offered" in refused.err, refused

    cancelled = cli.run(config, "deployment", "upgrade", "etl", "--cancel")
    assert cancelled.code == 0, cancelled
    assert f"Upgrade cancelled; {release} keeps running Airflow 2.11.2." in cancelled.out
    again = cli.run(config, "deployment", "upgrade", "etl", "--cancel")
    assert "Nothing to cancel" in again.out
    view = _admin_view(server.platform, created["id"])
    assert (view.airflow_version, view.desired_airflow_version, view.rollout_phase) == ("2.11.2", None, None)


def test_upgrade_wait_follows_commander_to_the_new_version_or_to_the_failure(server: Server, config: Path) -> None:
    created = _create(config)
    plat, dep_id = server.platform, created["id"]
    waiting = cli.Piped(config, "deployment", "upgrade", "etl", "-a", "3.3.2", "--yes", "--wait")
    waiting.wait_for_line("Airflow 2.11.2 [queued], deploying - queued for upgrade to Airflow 3.3.2")
    lease = _lease_upgrade(plat)
    assert upgrades.begin_migration(plat, dep_id, version="3.3.2", image=None, lease=lease)
    waiting.wait_for_line("[migrating], deploying - running the database migration of Airflow 3.3.2")
    upgrades.finish_rollout(plat, dep_id, version="3.3.2", image=None, lease=lease)
    commander_jobs.report_status(plat, dep_id, status=DeploymentStatus.HEALTHY, message="all ready", lease=lease)
    result = waiting.finish()
    assert result.code == 0, result
    assert "runs Airflow 3.3.2 and is healthy" in result.out

    # An image deploy whose migration fails: --wait ends with commander's reason, exit 1.
    commander_jobs.complete(plat, lease[0], worker_id=lease[1])
    image = "registry.example.com/etl/airflow:7"
    failing = cli.Piped(config, "deployment", "deploy-image", "etl", image, "--wait")
    failing.wait_for_line(f"[queued], deploying - queued for deploy of image {image}")
    lease = _lease_upgrade(plat)
    assert upgrades.begin_migration(plat, dep_id, version="3.3.2", image=image, lease=lease)
    reason = f"deploying image {image} (Airflow 3.3.2) failed: ErrImagePull; Airflow 3.3.2 keeps running"
    upgrades.fail_rollout(plat, dep_id, reason=reason, lease=lease)
    result = failing.finish()
    assert result.code == 1, result
    assert f"Error: Deployment {created['releaseName']}: {reason}" in result.err
    shown = cli.run(config, "deployment", "status", "etl")
    lines = shown.out.splitlines()
    assert f"Last upgrade failed: {reason}" in lines, shown
    assert any(line.startswith("Airflow:") and line.endswith(" 3.3.2") for line in lines), shown
    # A malformed reference never reaches commander.
    bad = cli.run(config, "deployment", "deploy-image", "etl", "registry.example.com/etl/airflow")
    assert bad.code == 1, bad
    assert "names no tag" in bad.err, bad


def test_variables_set_secret_and_unset_and_secret_values_are_never_printed(server: Server, config: Path) -> None:
    _create(config)
    result = cli.run(config, "deployment", "variables", "etl", "--set", "MODE=prod", "--secret", f"API_TOKEN={SECRET}")
    assert result.code == 0, result
    assert "MODE" in result.out
    assert "prod" in result.out
    assert "API_TOKEN" in result.out
    assert "(secret)" in result.out
    # Changing another variable keeps the secret's stored value without the CLI ever having seen it.
    result = cli.run(config, "deployment", "variables", "etl", "--set", "MODE=dev", "-o", "json")
    assert result.code == 0, result
    listed = {v["key"]: v for v in json.loads(result.out)}
    assert listed["API_TOKEN"] == {"key": "API_TOKEN", "value": None, "isSecret": True}
    assert listed["MODE"]["value"] == "dev"
    dep_id = json.loads(cli.run(config, "deployment", "status", "etl", "-o", "json").out)["id"]
    assert dict(variables.for_commander(server.platform, dep_id).items)["API_TOKEN"] == SECRET
    removed = cli.run(config, "deployment", "variables", "etl", "--unset", "MODE")
    assert removed.code == 0
    assert "MODE" not in removed.out
    missing = cli.run(config, "deployment", "variables", "etl", "--unset", "NOPE")
    assert missing.code == 1
    assert "variable 'NOPE' is not set" in missing.err
    for output in (result, removed, missing):
        assert SECRET not in output.out + output.err


def test_logs_with_the_deployment_first_says_the_component_comes_first(tmp_path: Path) -> None:
    # Every other deployment command takes the Deployment first; `logs` (like the astro CLI's) the component.
    # Refused before anything is asked of a server (this config has none).
    swapped = cli.run(tmp_path / "config.yaml", "deployment", "logs", "etl", "scheduler")
    assert swapped.code == 2, swapped
    assert "'etl' is not a component and 'scheduler' is; the component comes first" in swapped.err, swapped
    assert "`airpool deployment logs scheduler etl`" in swapped.err, swapped
    assert "Traceback" not in swapped.err
    # Both unknown: no guess; the Deployment is looked up as usual (here: no server to ask).
    neither = cli.run(tmp_path / "config.yaml", "deployment", "logs", "etl", "nightly")
    assert neither.code != 0
    assert "component comes first" not in neither.err, neither


def test_deploy_image_help_shows_the_whole_image_reference(tmp_path: Path) -> None:
    child = cli.spawn(tmp_path / "config.yaml", "deployment", "deploy-image", "--help", columns=220)
    child.expect(r"deploy-image \[OPTIONS\] {DEPLOYMENT} {IMAGE}")  # bold: the words, not the line
    child.expect("registry/name:tag, optionally followed by @sha256:digest")
    assert cli.finish(child) == 0


def test_update_shows_the_new_sizes_as_a_table_people_read(server: Server, config: Path) -> None:
    # It printed one line of JSON ("sizes: {"scheduler": {"replicas": 1, "resources": ...") in table mode.
    _create(config)
    result = cli.run(config, "deployment", "update", "etl", "--replicas", "workers=2", "--memory", "workers=3Gi")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].startswith("Updated. "), result
    assert lines[1].split() == ["COMPONENT", "REPLICAS", "CPU", "LIMIT", "MEMORY", "LIMIT"], result
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert list(rows) == ["scheduler", "webserver", "workers", "triggerer"], result
    assert rows["workers"][0] == "2"
    assert rows["workers"][2] == "3Gi"
    assert "{" not in result.out


def test_a_refused_variable_is_named_by_the_option_that_gave_it(server: Server, config: Path) -> None:
    # The server names it by its place in the whole list the CLI sends ("environmentVariables[2].key '1BAD' ..."),
    # a place the user never saw.
    _create(config)
    assert cli.run(config, "deployment", "variables", "etl", "--set", "A=1", "--secret", "B=2").code == 0
    refused = cli.run(config, "deployment", "variables", "etl", "--set", "MODE=x", "--set", "1BAD=x")
    assert refused.code == 1, refused
    assert "Error: --set 1BAD=...: key '1BAD' is not an environment variable name; allowed: letters" in refused.err
    assert refused.err.rstrip().endswith("; nothing changed"), refused
    assert "environmentVariables[" not in refused.err
    reserved = cli.run(config, "deployment", "variables", "etl", "--secret", f"AIRFLOW__CORE__FERNET_KEY={SECRET}")
    assert reserved.code == 1, reserved
    assert "--secret AIRFLOW__CORE__FERNET_KEY=...: key AIRFLOW__CORE__FERNET_KEY is set by airpool" in reserved.err
    assert SECRET not in reserved.err + reserved.out
    # Airflow's old name of the metadata database connection was accepted, and fought the one airpool sets.
    old_name = cli.run(config, "deployment", "variables", "etl", "--set", "AIRFLOW__CORE__SQL_ALCHEMY_CONN=sqlite://")
    assert old_name.code == 1, old_name
    assert (
        "--set AIRFLOW__CORE__SQL_ALCHEMY_CONN=...: key AIRFLOW__CORE__SQL_ALCHEMY_CONN is the old name (Airflow "
        "before 2.3) of AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, the metadata database connection, which airpool sets "
        "itself; it cannot be overridden; nothing changed"
    ) in " ".join(old_name.err.split()), old_name
    listed = json.loads(cli.run(config, "deployment", "variables", "etl", "-o", "json").out)
    assert [v["key"] for v in listed] == ["A", "B"]


def test_upgrade_to_the_version_it_runs_starts_nothing_and_says_so(server: Server, config: Path) -> None:
    # It printed "Upgrade started." (the server takes the running version as "cancel the pending upgrade").
    created = _create(config, "2.11.2")
    same = cli.run(config, "deployment", "upgrade", "etl", "--airflow-version", "2.11.2", "--yes")
    assert same.code == 0, same
    assert same.out.strip() == f"Nothing changed: {created['releaseName']} already runs Airflow 2.11.2."
    assert deployments.get(server.platform, SYSTEM, created["id"]).rollout_phase is None

    assert cli.run(config, "deployment", "upgrade", "etl", "-a", "3.3.2", "--yes").code == 0
    # A narrow terminal: the message always wraps inside the error box (it did only for long release names).
    pending = cli.run(config, "deployment", "upgrade", "etl", "-a", "2.11.2", "--yes", COLUMNS="80")
    assert pending.code == 2, pending
    said = cli.words(pending.err)
    assert f"{created['releaseName']} already runs Airflow 2.11.2; to withdraw the pending upgrade to Airflow " in said
    assert f"deployment upgrade {created['releaseName']} --cancel`" in said
    assert "Upgrade started" not in pending.out
    assert deployments.get(server.platform, SYSTEM, created["id"]).desired_airflow_version == "3.3.2"
