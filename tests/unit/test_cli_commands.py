"""The installed ``airpool`` command without a server: help, usage errors, contexts, and a server that is down."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from airpool.cli import settings
from tests.support import cli


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "home" / "airpool" / "config.yaml"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write(config: Path, *contexts: settings.Context, current: str | None = None) -> None:
    data = settings.Settings(path=config, current=current or contexts[0].name)
    data.contexts = {c.name: c for c in contexts}
    settings.save(data)


def test_help_lists_commands_and_shows_examples(config: Path) -> None:
    result = cli.run(config, "--help")
    assert result.code == 0
    for command in ("login", "logout", "context", "workspace", "deployment", "pool"):
        assert command in result.out
    for args in (["deployment", "--help"], ["pool", "--help"], ["login", "--help"], ["deployment", "create", "-h"]):
        result = cli.run(config, *args)
        assert result.code == 0, result.err
        assert "Examples" in result.out, args


def test_shell_completion_offers_context_names(config: Path) -> None:
    _write(
        config, settings.Context(name="prod", server="https://p"), settings.Context(name="staging", server="https://s")
    )
    result = cli.run(config, _AIRPOOL_COMPLETE="complete_bash", COMP_WORDS="airpool context use st", COMP_CWORD="3")
    assert result.out.split() == ["staging"]
    result = cli.run(config, _AIRPOOL_COMPLETE="complete_bash", COMP_WORDS="airpool depl", COMP_CWORD="1")
    assert result.out.split() == ["deployment"]


def test_not_logged_in_says_how_to_log_in(config: Path) -> None:
    result = cli.run(config, "deployment", "list")
    assert result.code == 1
    assert "you are not logged in; run `airpool login URL`" in result.err
    assert "Traceback" not in result.err


def test_server_down_is_exit_3_with_the_address(config: Path) -> None:
    server = f"http://127.0.0.1:{_closed_port()}"
    _write(config, settings.Context(name="down", server=server, token="t", workspace_id="w"))
    for args in (["deployment", "list"], ["pool", "status", "-o", "json"], ["login", server, "-u", "a"]):
        result = cli.run(config, *args, AIRPOOL_PASSWORD="pw")
        assert result.code == 3, (args, result)
        assert f"cannot reach the airpool server at {server}" in result.err
        assert "Traceback" not in result.err
        assert result.out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deployment", "create", "-l", "x", "-e", "foo"], "executor 'foo' is not supported"),
        (["deployment", "delete", "etl"], "pass --yes to delete"),
        (["deployment", "list", "-o", "yaml"], "'yaml' is not one of"),
        (["pool", "release"], "Missing argument 'NAME'"),
    ],
)
def test_usage_errors_exit_2(config: Path, args: list[str], message: str) -> None:
    result = cli.run(config, *args)
    assert result.code == 2, result
    assert message in result.err


def test_bad_server_url_is_exit_1(config: Path) -> None:
    result = cli.run(config, "login", "ftp://nowhere")
    assert result.code == 1
    assert "server URL 'ftp://nowhere' is not valid" in result.err


def test_context_list_use_delete_and_logout(config: Path) -> None:
    _write(
        config,
        settings.Context(name="local", server="http://localhost:8871", username="alice", token="t1"),
        settings.Context(name="prod", server="http://127.0.0.1:9", token="t2", workspace_label="data"),
    )
    listed = json.loads(cli.run(config, "context", "list", "-o", "json").out)
    assert [(c["name"], c["current"], c["loggedIn"]) for c in listed] == [("local", True, True), ("prod", False, True)]
    table = cli.run(config, "context", "list").out.splitlines()
    assert table[0].split() == ["CURRENT", "NAME", "SERVER", "USER", "LOGGED", "IN", "WORKSPACE"]
    assert table[1].split()[:2] == ["*", "local"]

    unknown = cli.run(config, "context", "use", "nope")
    assert unknown.code == 1
    assert "context 'nope' is not in" in unknown.err
    assert "known contexts: local, prod" in unknown.err

    assert cli.run(config, "context", "use", "prod").code == 0
    assert settings.load(config).current == "prod"
    # The server is down (nothing listens on port 9): the token is forgotten all the same, and the CLI says that
    # the session on the server could not be ended.
    assert cli.run(config, "logout").out.strip() == (
        "Logged out of http://127.0.0.1:9 (context prod). The server could not be reached, so the session itself "
        "ends only when it expires."
    )
    reloaded = settings.load(config)
    assert reloaded.contexts["prod"].token is None
    assert reloaded.contexts["local"].token == "t1"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600

    logged_out = cli.run(config, "deployment", "list")
    assert logged_out.code == 1
    assert "you are logged out of http://127.0.0.1:9" in logged_out.err

    assert cli.run(config, "context", "delete", "prod").code == 0
    assert list(settings.load(config).contexts) == ["local"]
    # AIRPOOL_CONTEXT picks a context for one command without changing the file
    other = cli.run(config, "context", "list", "-o", "json", AIRPOOL_CONTEXT="local")
    assert json.loads(other.out)[0]["current"] is True


def test_broken_config_file_is_named(config: Path) -> None:
    config.parent.mkdir(parents=True)
    config.write_text("contexts: [1, 2\n")
    result = cli.run(config, "context", "list")
    assert result.code == 1
    assert f"the config file {config} line" in result.err


def test_start_up_imports_no_heavy_library() -> None:
    """Every ``airpool`` run imports the command tree; libraries that cost tens of milliseconds must wait until a
    command needs them (bench/cli_startup.py has the figures)."""
    heavy = ["yaml", "httpx", "urllib.request", "rich", "pydantic", "sqlalchemy", "lightkube", "uvicorn", "ariadne"]
    code = f"import sys, airpool.cli.main; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []
