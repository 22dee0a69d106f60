"""The ``airpool`` CLI against a real ``airpool serve`` (SQLite, a pool of namespaces, no commander).

The interactive namespace choice runs in a real pseudo-terminal (pexpect): the menu lists only available
namespaces, choosing one creates the Deployment, and that namespace is not offered again. The rest runs piped,
as scripts run it: the empty pool, an unknown namespace, JSON output, deletion.
"""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import cli
from tests.support.api_server import PASSWORD, serve_process

pytestmark = pytest.mark.slow

DOWN, ENTER = "\x1b[B", "\r"


def _values(tmp_path: Path, *names: str) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(
        "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n"
        f"        create: true\n        names: [{', '.join(names)}]\n"
        f"airpool:\n  dataDir: {tmp_path / 'data'}\n"
    )
    return path


def _server(tmp_path: Path, *names: str) -> Iterator[str]:
    env = {"AIRPOOL_ADMIN_USERNAME": "admin", "AIRPOOL_ADMIN_PASSWORD": PASSWORD}
    with serve_process(
        values=_values(tmp_path, *names),
        database_url=f"sqlite:///{tmp_path / 'airpool.db'}",
        extra_args=["--migrate"],
        env=env,
    ) as served:
        yield served.base


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    yield from _server(tmp_path, "pool-a", "pool-b", "pool-c")


@pytest.fixture
def config(tmp_path: Path, server: str) -> Path:
    """A config file logged in to ``server`` as the admin (non-interactive login, as a script does it)."""
    return cli.login(tmp_path / "cli" / "config.yaml", server, username="admin", password=PASSWORD)


def _deployments(config: Path) -> list[dict[str, str]]:
    result = cli.run(config, "deployment", "list", "-o", "json")
    assert result.code == 0, result
    rows: list[dict[str, str]] = json.loads(result.out)
    return rows


def test_login_prompts_and_hides_the_password(tmp_path: Path, server: str) -> None:
    path = tmp_path / "interactive" / "config.yaml"
    child = cli.spawn(path, "login", server)
    child.logfile_read = transcript = io.StringIO()
    child.expect("Username: ")
    child.sendline("admin")
    child.expect("Password: ")
    child.sendline(PASSWORD)
    child.expect(r"Logged in to http://127\.0\.0\.1:\d+ as admin")
    assert cli.finish(child) == 0
    assert "admin" in transcript.getvalue()  # the username is echoed, the password is not
    assert PASSWORD not in transcript.getvalue()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PASSWORD not in path.read_text()

    wrong = cli.run(tmp_path / "wrong.yaml", "login", server, "-u", "admin", AIRPOOL_PASSWORD="not it")
    assert wrong.code == 1
    assert "Error:" in wrong.err
    assert not (tmp_path / "wrong.yaml").exists()


def test_choosing_a_namespace_in_a_terminal(config: Path) -> None:
    scripted = cli.run(config, "deployment", "create", "-l", "scripted", "--namespace", "pool-b")
    assert scripted.code == 0, scripted
    assert "namespace pool-b" in scripted.out

    child = cli.spawn(config, "deployment", "create", "--label", "first")
    child.expect("Choose a Kubernetes namespace")
    child.expect("> pool-a")
    child.expect("  pool-c")
    child.send("pool-b")  # claimed above: not offered
    child.expect("no match for 'pool-b'")
    child.sendcontrol("u")
    child.expect("> pool-a")
    child.send(DOWN)
    child.expect("> pool-c")
    child.send(ENTER)
    child.expect(r"Created Deployment 'first': release name [a-z0-9-]+, namespace pool-c")
    assert cli.finish(child) == 0
    assert {(d["label"], d["namespace"]) for d in _deployments(config)} == {("scripted", "pool-b"), ("first", "pool-c")}

    child = cli.spawn(config, "deployment", "create", "--label", "second")
    child.expect("> pool-a")
    child.send("c")  # pool-c is taken now: only pool-a is left, and it has no "c"
    child.expect("no match for 'c'")
    child.send("\x7f")
    child.expect("> pool-a")
    child.send(ENTER)
    child.expect("namespace pool-a")
    assert cli.finish(child) == 0

    # Every namespace is taken: no menu, the server's empty-pool error with its counts.
    child = cli.spawn(config, "deployment", "create", "--label", "third")
    child.expect("no kubernetes namespaces are available")
    child.expect(r"3 claimed")
    assert cli.finish(child) == 1


def test_cancelling_the_menu_creates_nothing(config: Path) -> None:
    child = cli.spawn(config, "deployment", "create", "--label", "never")
    child.expect("> pool-a")
    child.sendcontrol("c")
    child.expect("Error: aborted")
    assert cli.finish(child) == 1
    assert _deployments(config) == []


@pytest.fixture
def one_namespace_config(tmp_path: Path) -> Iterator[Path]:
    for base in _server(tmp_path, "only-one"):
        path = tmp_path / "cli" / "config.yaml"
        cli.login(path, base, username="admin", password=PASSWORD)
        yield path


def test_empty_pool_is_the_servers_error_with_counts_and_exit_1(one_namespace_config: Path) -> None:
    config = one_namespace_config
    assert cli.run(config, "deployment", "create", "-l", "a", "-n", "only-one").code == 0
    result = cli.run(config, "deployment", "create", "-l", "b")
    assert result.code == 1
    assert "no kubernetes namespaces are available" in result.err
    assert "(1 claimed, 0 being released, 0 retained, 0 misconfigured)" in result.err
    assert result.out == ""
    assert [d["label"] for d in _deployments(config)] == ["a"]


def test_unknown_or_taken_namespace_is_named(config: Path) -> None:
    unknown = cli.run(config, "deployment", "create", "-l", "x", "--namespace", "nope")
    assert unknown.code == 1
    assert "namespace 'nope' is not in the namespace pool" in unknown.err
    assert cli.run(config, "deployment", "create", "-l", "x", "--namespace", "pool-a").code == 0
    taken = cli.run(config, "deployment", "create", "-l", "y", "--namespace", "pool-a")
    assert taken.code == 1
    assert "namespace 'pool-a' is not available" in taken.err
    assert [d["label"] for d in _deployments(config)] == ["x"]


def test_piped_create_without_namespace_lists_the_choices(config: Path) -> None:
    result = cli.run(config, "deployment", "create", "-l", "x")
    assert result.code == 2
    assert "choose one of the available namespaces: pool-a, pool-b, pool-c" in result.err
    assert _deployments(config) == []


def test_listings_as_json_and_as_plain_text(config: Path) -> None:
    created = json.loads(cli.run(config, "deployment", "create", "-l", "etl", "-n", "pool-a", "-o", "json").out)
    assert created["namespace"] == "pool-a"
    assert created["status"] == "deploying"

    workspaces = json.loads(cli.run(config, "workspace", "list", "-o", "json").out)
    assert [w["id"] for w in workspaces] == [created["workspace"]["id"]]
    assert [d["id"] for d in _deployments(config)] == [created["id"]]
    status = json.loads(cli.run(config, "deployment", "status", "etl", "-o", "json").out)
    assert status["releaseName"] == created["releaseName"]
    assert status["statusMessage"]
    pool = json.loads(cli.run(config, "pool", "status", "-o", "json").out)
    states = {ns["name"]: ns["state"] for ns in pool["namespaces"]}
    assert states == {"pool-a": "claimed", "pool-b": "available", "pool-c": "available"}
    contexts = json.loads(cli.run(config, "context", "list", "-o", "json").out)
    assert contexts[0]["loggedIn"] is True

    table = cli.run(config, "deployment", "list").out.splitlines()
    assert table[0].split() == ["LABEL", "RELEASE", "NAME", "NAMESPACE", "EXECUTOR", "AIRFLOW", "STATUS", "ID"]
    assert table[1].split()[:3] == ["etl", created["releaseName"], "pool-a"]
    assert "\x1b[" not in "\n".join(table)  # no colour codes when piped
    pool_text = cli.run(config, "pool", "status").out
    assert "3 namespaces: 2 available, 1 claimed" in pool_text


def test_delete_confirms_and_says_when_the_namespace_returns(config: Path) -> None:
    created = json.loads(cli.run(config, "deployment", "create", "-l", "etl", "-n", "pool-b", "-o", "json").out)
    child = cli.spawn(config, "deployment", "delete", "etl")
    child.expect(r"Hard-delete Deployment 'etl' \([a-z0-9-]+\) in namespace pool-b\? \[y/N\]")
    child.sendline("n")
    child.expect("Nothing deleted.")
    assert cli.finish(child) == 0
    assert len(_deployments(config)) == 1

    result = cli.run(config, "deployment", "delete", created["releaseName"], "--hard", "--yes")
    assert result.code == 0, result
    assert f"Deleted Deployment 'etl' ({created['releaseName']}) in namespace pool-b (hard delete)." in result.out
    assert "Namespace pool-b is freed as soon as commander has removed the Deployment's objects" in result.out
    pool = json.loads(cli.run(config, "pool", "status", "-o", "json").out)
    assert {ns["name"]: ns["state"] for ns in pool["namespaces"]}["pool-b"] == "releasing"

    missing = cli.run(config, "deployment", "status", "no-such-thing")
    assert missing.code == 1
    assert "no Deployment 'no-such-thing' in this workspace" in missing.err


def test_server_stopped_after_login_is_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "cli" / "config.yaml"
    for base in _server(tmp_path, "pool-a"):
        cli.login(path, base, username="admin", password=PASSWORD)
        assert cli.run(path, "deployment", "list").code == 0
    result = cli.run(path, "deployment", "list")
    assert result.code == 3
    assert "cannot reach the airpool server at http://127.0.0.1:" in result.err
    assert "Traceback" not in result.err


def test_pool_status_filters_sorts_and_pages_on_the_server(config: Path) -> None:
    assert cli.run(config, "deployment", "create", "-l", "etl", "-n", "pool-b").code == 0
    page = cli.run(config, "pool", "status", "--limit", "2").out
    assert "pool-a" in page
    assert "pool-b" in page
    assert "pool-c" not in page
    assert "Showing 1-2 of 3 matching namespaces; --page 2 for more, --all for every one." in page
    assert "3 namespaces: 2 available, 1 claimed" in page
    second = cli.run(config, "pool", "status", "--limit", "2", "--page", "2").out
    assert "pool-c" in second
    assert "pool-a" not in second
    assert "Showing 3-3 of 3 matching namespaces." in second
    # JSON: one page on stdout, and on stderr that more match (a script piping it to jq would not know otherwise)
    first_two = cli.run(config, "pool", "status", "--limit", "2", "-o", "json")
    assert [ns["name"] for ns in json.loads(first_two.out)["namespaces"]] == ["pool-a", "pool-b"]
    assert first_two.err.strip() == "Showing 1-2 of 3 matching namespaces; --page 2 for more, --all for every one."
    every = cli.run(config, "pool", "status", "--all", "-o", "json")
    assert [ns["name"] for ns in json.loads(every.out)["namespaces"]] == ["pool-a", "pool-b", "pool-c"]
    assert every.err == ""
    help_text = " ".join(cli.run(config, "pool", "--help").out.split())
    assert "airpool pool status --state retained --all -o json | jq" in help_text  # the example gets every one
    claimed = json.loads(cli.run(config, "pool", "status", "--state", "claimed", "-o", "json").out)
    assert (claimed["total"], [ns["name"] for ns in claimed["namespaces"]]) == (1, ["pool-b"])
    newest_first = json.loads(cli.run(config, "pool", "status", "--sort", "state", "--desc", "-o", "json").out)
    assert [ns["name"] for ns in newest_first["namespaces"]] == ["pool-b", "pool-c", "pool-a"]
    assert "No pool namespace matches." in cli.run(config, "pool", "status", "--search", "zzz").err
    bad = cli.run(config, "pool", "status", "--state", "sleeping")
    assert bad.code == 2
    assert "--state 'sleeping' is not a pool state; allowed: available, claimed" in bad.err
