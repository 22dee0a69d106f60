"""One place that turns failures into the CLI's exit codes and one-line messages, never a traceback.

0 success, 1 a user or server-side error, 2 a usage error (Typer's own, or ``typer.BadParameter`` raised by a
command), 3 the server could not be reached. Scripts rely on these numbers, so they are documented in docs/cli.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from airpool.cli import client, hints
from airpool.domain.errors import AirpoolError

OK = 0
ERROR = 1
USAGE = 2
UNREACHABLE = 3

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, *, code: int = ERROR) -> typer.Exit:
    """Print ``Error: message`` on stderr and return the exit to raise."""
    typer.secho(f"Error: {hints.rewrite(message)}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def report(exc: BaseException) -> int | None:
    """Print an expected failure's message as ``fail`` does and return its exit code; None for anything else."""
    if isinstance(exc, client.Unreachable):
        return fail(str(exc), code=UNREACHABLE).exit_code
    if isinstance(exc, AirpoolError):
        return fail(exc.message).exit_code
    if isinstance(exc, KeyboardInterrupt):
        return fail("aborted").exit_code
    return None


def handled(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so that expected failures print a clear message and exit with their code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (Exception, KeyboardInterrupt) as exc:
            code = report(exc)
            if code is None:
                raise
            raise typer.Exit(code) from None

    return wrapper
