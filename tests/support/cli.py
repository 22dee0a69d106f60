"""Running the real ``airpool`` command in a subprocess, piped or in a pseudo-terminal, with its own config file."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
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
    # As in an activated virtualenv: `airpool` is on PATH, so hints name it plainly (tests/e2e/test_cli_newcomer.py
    # runs it by a path instead).
    path = os.pathsep.join([str(Path(AIRPOOL[0]).parent), env.get("PATH", os.defpath)])
    env.update({"AIRPOOL_CONFIG": str(config), "TERM": "xterm-256color", "COLUMNS": "200", "PATH": path, **extra})
    if not color:
        env["NO_COLOR"] = "1"
    return env


def words(text: str) -> str:
    """``text`` as one line of words: the terminal's wrapping and the borders of Typer's error box (Rich box-drawing
    characters, which a long message wrapped inside the box puts between its words) taken out."""
    return " ".join("".join(" " if "\u2500" <= ch <= "\u257f" else ch for ch in text).split())


def run(config: Path, *args: str, stdin: str = "", timeout: float = 180, **env: str) -> Result:
    """One piped (non-interactive) run of ``airpool ARGS``."""
    proc = subprocess.run(
        [*AIRPOOL, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=cli_env(config, **env)
    )
    return Result(code=proc.returncode, out=proc.stdout, err=proc.stderr)


class Piped:
    """``airpool ARGS`` running piped in the background; ``wait_for_line`` lets a test act once the command has
    shown something (a condition), never after a guessed delay."""

    def __init__(self, config: Path, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen(
            [*AIRPOOL, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(config, **env),
        )
        self.err_lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read_err, daemon=True)
        self._reader.start()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.err_lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, text: str, *, timeout: float = 120) -> str:
        """The first stderr line containing ``text``; fails when the command ends or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.err_lines if text in line), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (not self._reader.is_alive() and self.proc.poll() is not None):
                    raise AssertionError(f"airpool never printed {text!r}; stderr so far: {self.err_lines}")
                self._changed.wait(min(left, 1.0))

    def finish(self, *, timeout: float = 120) -> Result:
        out = self.proc.stdout.read() if self.proc.stdout else ""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        return Result(code=code, out=out, err="\n".join(self.err_lines) + "\n")


def spawn(config: Path, *args: str, color: bool = False, timeout: float = 120, columns: int = 160, **env: str) -> Any:
    """``airpool ARGS`` in a real pseudo-terminal (pexpect), 160 columns wide unless told; each ``expect`` waits up
    to ``timeout`` seconds (generous: a loaded machine starts Python slowly)."""
    import pexpect

    environ = cli_env(config, color=color, **env)
    environ.pop("COLUMNS")  # the terminal's own size counts
    return pexpect.spawn(
        AIRPOOL[0], [*AIRPOOL[1:], *args], env=environ, encoding="utf-8", dimensions=(40, columns), timeout=timeout
    )


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
