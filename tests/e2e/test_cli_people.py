"""``airpool workspace user``, ``deployment user``, ``service-account`` and ``team`` against a real ``airpool serve``
(SQLite, a pool, no commander), run piped as scripts run them. The server checks every role: a refused command
exits 1 with Houston's message and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import cli
from tests.support.api_server import PASSWORD, GraphQL, serve_process

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    values = tmp_path / "values.yaml"
    values.write_text(
        "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n"
        "        create: true\n        names: [pool-a, pool-b]\n"
        f"airpool:\n  dataDir: {tmp_path / 'data'}\n"
    )
    env = {"AIRPOOL_ADMIN_USERNAME": "admin", "AIRPOOL_ADMIN_PASSWORD": PASSWORD}
    with serve_process(
        values=values, database_url=f"sqlite:///{tmp_path / 'airpool.db'}", extra_args=["--migrate"], env=env
    ) as served:
        yield served.base


def _ok(config: Path, *args: str) -> str:
    result = cli.run(config, *args)
    assert result.code == 0, result
    return result.out


def _json(config: Path, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(_ok(config, *args, "-o", "json"))
    return rows


def test_people_commands(tmp_path: Path, server: str) -> None:
    admin = cli.login(tmp_path / "admin.yaml", server, username="admin", password=PASSWORD)
    api = GraphQL(server).login("admin")
    for email in ("vera@example.com", "tom@example.com"):
        api.data(
            "mutation($e: String!, $p: String!) { createUser(email: $e, password: $p) { user { id } } }",
            {"e": email, "p": PASSWORD},
        )

    assert "as WORKSPACE_VIEWER" in _ok(admin, "workspace", "user", "add", "vera@example.com")
    _ok(admin, "workspace", "user", "add", "tom@example.com", "--role", "editor")
    members = {r["username"]: r["role"] for r in _json(admin, "workspace", "user", "list")}
    assert members == {
        "admin": "WORKSPACE_ADMIN",
        "vera@example.com": "WORKSPACE_VIEWER",
        "tom@example.com": "WORKSPACE_EDITOR",
    }

    # vera, a viewer, is refused and nothing changes
    vera = cli.login(tmp_path / "vera.yaml", server, username="vera@example.com", password=PASSWORD)
    _ok(vera, "workspace", "switch", _json(admin, "workspace", "list")[0]["id"])
    refused = cli.run(vera, "workspace", "user", "update", "tom@example.com", "--role", "admin")
    assert refused.code == 1
    assert "appropriate permissions" in refused.err.lower() + refused.out.lower()
    assert {r["username"]: r["role"] for r in _json(admin, "workspace", "user", "list")} == members

    _ok(admin, "deployment", "create", "--label", "etl", "--namespace", "pool-a")
    assert "DEPLOYMENT_ADMIN on" in _ok(
        admin, "deployment", "user", "add", "etl", "vera@example.com", "--role", "admin"
    )
    assert _json(admin, "deployment", "user", "list", "etl")[0]["role"] == "DEPLOYMENT_ADMIN"
    # now vera administers that Deployment: she adds tom to it
    _ok(vera, "deployment", "user", "add", "etl", "tom@example.com", "--role", "viewer")
    _ok(admin, "deployment", "user", "remove", "etl", "tom@example.com")
    assert [r["username"] for r in _json(admin, "deployment", "user", "list", "etl")] == ["vera@example.com"]

    created = _ok(admin, "service-account", "create", "--label", "ci", "--role", "viewer")
    key = created.strip().splitlines()[-1]
    assert key.startswith("apsa_")
    robot = GraphQL(server, key)
    assert [d["label"] for d in robot.data("{ paginatedDeployments(take: -1) { label } }")["paginatedDeployments"]] == [
        "etl"
    ]
    accounts = _json(admin, "service-account", "list")
    assert [(a["label"], a["role"]) for a in accounts] == [("ci", "WORKSPACE_VIEWER")]
    assert key not in json.dumps(accounts)
    assert "no longer works" in _ok(admin, "service-account", "delete", accounts[0]["id"])
    assert robot.error("{ workspaces { id } }")["message"] == "AUTH_TOKEN_REFRESH_FAILED"

    dep_key = (
        _ok(admin, "service-account", "create", "-l", "deployer", "-d", "etl", "-r", "admin").strip().splitlines()[-1]
    )
    assert [a["label"] for a in _json(admin, "service-account", "list", "-d", "etl")] == ["deployer"]
    assert GraphQL(server, dep_key).data("{ paginatedDeployments(take: -1) { label } }")["paginatedDeployments"]

    _ok(admin, "team", "create", "data-eng")
    _ok(admin, "team", "add-user", "data-eng", "tom@example.com")
    _ok(admin, "team", "grant", "data-eng", "--role", "editor")
    teams = _json(admin, "team", "list")
    assert [(t["name"], t["source"]) for t in teams] == [("data-eng", "local")]
    assert "WORKSPACE_EDITOR" in teams[0]["roles"]
    assert cli.run(vera, "team", "create", "mine").code == 1
    _ok(admin, "workspace", "user", "remove", "tom@example.com")
    assert "tom@example.com" not in {r["username"] for r in _json(admin, "workspace", "user", "list")}
