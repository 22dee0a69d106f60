"""Running the real ``airpool`` command in a subprocess, piped or in a pseudo-terminal, with its own config file."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: The installed console script, so the tests run exactly what users run.
AIRPOOL = [str(Path(sys.executable).parent / "airpool")]


@dataclasses.dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def cli_env(config: Path, *, color: bool = False, **extra: str) -> dict[str, str]:
    """The environment of one CLI run: its own config file, no inherited context or password, colours only when
    asked for (``NO_COLOR`` counts by its presence, so it is left out then)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRPOOL_") and k != "NO_COLOR"}
    env.update({"AIRPOOL_CONFIG": str(config), "TERM": "xterm-256color", "COLUMNS": "200", **extra})
    if not color:
        env["NO_COLOR"] = "1"
    return env


def run(config: Path, *args: str, stdin: str = "", timeout: float = 60, **env: str) -> Result:
    """One piped (non-interactive) run of ``airpool ARGS``."""
    proc = subprocess.run(
        [*AIRPOOL, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=cli_env(config, **env)
    )
    return Result(code=proc.returncode, out=proc.stdout, err=proc.stderr)


def spawn(config: Path, *args: str, color: bool = False, **env: str) -> Any:
    """``airpool ARGS`` in a real pseudo-terminal (pexpect), 160 columns wide."""
    import pexpect

    environ = cli_env(config, color=color, **env)
    environ.pop("COLUMNS")  # the terminal's own size counts
    return pexpect.spawn(AIRPOOL[0], [*AIRPOOL[1:], *args], env=environ, encoding="utf-8", dimensions=(40, 160))


def login(config: Path, server: str, *, username: str, password: str) -> Path:
    """Log ``config`` in to ``server`` the way a script does (password from the environment)."""
    result = run(config, "login", server, "-u", username, AIRPOOL_PASSWORD=password)
    assert result.code == 0, result
    return config


def finish(child: Any) -> int:
    """Wait for a spawned command to end; its exit status."""
    import pexpect

    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus)
