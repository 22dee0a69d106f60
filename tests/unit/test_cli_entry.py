"""``airpool deployment list`` and ``deployment delete ... --yes`` are served before the Typer app is built
(``cli.entry``); everything else, and any form of them the fast path does not know exactly, still goes to Typer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airpool.cli import entry
from tests.support import cli


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (["deployment", "list"], {}),
        (["deployment", "list", "-o", "json"], {"output": "json"}),
        (["deployment", "list", "--output=JSON", "-w", "ws-1"], {"output": "JSON", "workspace": "ws-1"}),
        (["deployment", "list", "--workspace", "ws-1"], {"workspace": "ws-1"}),
    ],
)
def test_the_forms_served_before_typer(argv: list[str], wanted: dict[str, str]) -> None:
    assert entry._deployment_list_args(argv) == wanted


@pytest.mark.parametrize(
    "argv",
    [
        ["deployment", "list", "--help"],
        ["deployment", "list", "-o", "yaml"],  # Typer says what is allowed
        ["deployment", "list", "-o"],
        ["deployment", "list", "-o", "json", "-o", "table"],
        ["deployment", "list", "-o=json"],
        ["deployment", "list", "extra"],
        ["deployment", "status", "etl"],
        ["--version"],
        [],
    ],
)
def test_anything_else_goes_to_typer(argv: list[str]) -> None:
    assert entry._deployment_list_args(argv) is None


def test_deployment_list_builds_no_typer_app(tmp_path: Path) -> None:
    """The point of the fast path: what a listing needs imports neither Typer nor the command tree (a failure's
    message is printed by ``exits``, which may)."""
    code = (
        "import sys; from airpool.cli import entry, output, queries, session\n"
        "print('typer' in sys.modules, 'airpool.cli.main' in sys.modules)\n"
        "sys.argv = ['airpool', 'deployment', 'list']\n"
        "try:\n    entry.run()\nexcept SystemExit as exc:\n    print(exc.code, 'airpool.cli.main' in sys.modules)"
    )
    env = {"AIRPOOL_CONFIG": str(tmp_path / "config.yaml"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == ["False", "False", "1", "False"]
    assert "Error: " in done.stderr


def test_the_fast_path_and_typer_say_the_same(tmp_path: Path) -> None:
    """Same message and exit code whichever way the command is served (no server: not logged in)."""
    config = tmp_path / "config.yaml"
    fast = cli.run(config, "deployment", "list")
    slow = cli.run(config, "deployment", "list", "--workspace", "ws-1", "--output", "table")
    typer_served = subprocess.run(
        [sys.executable, "-c", "from airpool.cli.main import run; run()", "deployment", "list"],
        capture_output=True,
        text=True,
        env=cli.cli_env(config),
        check=False,
    )
    assert fast.code == slow.code == typer_served.returncode == 1
    assert fast.err == typer_served.stderr
    assert fast.out == typer_served.stdout == ""


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (["deployment", "delete", "etl", "--yes"], {"ref": "etl", "yes": True}),
        (
            ["deployment", "delete", "--hard", "etl", "-y", "--wait", "--timeout", "30"],
            {"ref": "etl", "hard": True, "yes": True, "wait": True, "timeout": 30.0},
        ),
        (
            ["deployment", "delete", "etl", "--soft", "--yes", "--timeout=2.5", "-w", "ws-1", "-o", "json"],
            {"ref": "etl", "hard": False, "yes": True, "timeout": 2.5, "workspace": "ws-1", "output": "json"},
        ),
    ],
)
def test_the_delete_forms_served_before_typer(argv: list[str], wanted: dict[str, object]) -> None:
    assert entry._deployment_delete_args(argv) == wanted


@pytest.mark.parametrize(
    "argv",
    [
        ["deployment", "delete", "etl"],  # no --yes: it asks, or Typer refuses without a terminal
        ["deployment", "delete", "--yes"],
        ["deployment", "delete", "etl", "other", "--yes"],
        ["deployment", "delete", "etl", "--yes", "--hard", "--soft"],
        ["deployment", "delete", "etl", "--yes", "--timeout", "0.5"],  # Typer names the minimum
        ["deployment", "delete", "etl", "--yes", "--timeout", "soon"],
        ["deployment", "delete", "etl", "--yes", "--timeout"],
        ["deployment", "delete", "etl", "--yes", "-o", "yaml"],
        ["deployment", "delete", "etl", "--yes", "--help"],
        ["deployment", "delete", "etl", "--yes", "--force"],
    ],
)
def test_any_other_delete_goes_to_typer(argv: list[str]) -> None:
    assert entry._deployment_delete_args(argv) is None


def test_deployment_delete_yes_builds_no_typer_app(tmp_path: Path) -> None:
    code = (
        "import sys; from airpool.cli import entry\n"
        "sys.argv = ['airpool', 'deployment', 'delete', 'etl', '--hard', '--yes', '--wait']\n"
        "try:\n    entry.run()\nexcept SystemExit as exc:\n    print(exc.code, 'airpool.cli.main' in sys.modules)"
    )
    env = {"AIRPOOL_CONFIG": str(tmp_path / "config.yaml"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == ["1", "False"]
    assert "you are not logged in" in done.stderr
    typer_served = subprocess.run(
        [sys.executable, "-c", "from airpool.cli.main import run; run()", "deployment", "delete", "etl", "--yes"],
        capture_output=True,
        text=True,
        env=cli.cli_env(tmp_path / "config.yaml"),
        check=False,
    )
    fast = cli.run(tmp_path / "config.yaml", "deployment", "delete", "etl", "--yes")
    assert fast.code == typer_served.returncode == 1
    assert fast.err == typer_served.stderr


def test_the_console_script_leaves_with_the_commands_code_and_its_output(tmp_path: Path) -> None:
    """``entry.script`` (the ``airpool`` executable) ends a fast-path command without the interpreter's teardown:
    same exit code and the same message, flushed, as ``entry.run``."""
    code = "import sys; from airpool.cli import entry\nsys.argv = ['airpool', 'deployment', 'list']\nentry.{}()"
    env = {"AIRPOOL_CONFIG": str(tmp_path / "config.yaml"), "PATH": "/usr/bin:/bin"}
    ran = {
        name: subprocess.run(
            [sys.executable, "-c", code.format(name)], capture_output=True, text=True, env=env, check=False
        )
        for name in ("run", "script")
    }
    assert ran["script"].returncode == ran["run"].returncode == 1
    assert ran["script"].stderr == ran["run"].stderr
    assert "Error: " in ran["script"].stderr
    assert ran["script"].stdout == ran["run"].stdout == ""
