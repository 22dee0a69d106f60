"""Hints name the ``airpool`` command the way the user can run it.

After ``scripts/setup.sh`` the command lives in ``.venv/bin/airpool`` and is not on ``PATH``: a hint saying
``airpool login ...`` would then answer "command not found". Every hint the CLI prints (its own, and the server's
messages, which follow the same convention) names commands in backticks, `` `airpool ...` ``; :func:`rewrite`
replaces that ``airpool`` with what the shell needs: plain ``airpool`` when ``PATH`` finds this very program,
otherwise the path it was started with (``.venv/bin/airpool`` when run from the checkout, as the README does).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys

_MARK = "`airpool "


def program() -> str:
    """How to name this program in a command the user copies."""
    invoked = sys.argv[0] if sys.argv else ""
    if os.path.basename(invoked) != "airpool" or os.sep not in invoked:
        return "airpool"  # found through PATH (or run some other way, e.g. python -m)
    found = shutil.which("airpool")
    if found and os.path.realpath(found) == os.path.realpath(invoked):
        return "airpool"
    return shlex.quote(invoked)


def command(rest: str) -> str:
    """``airpool REST`` as the user can run it, e.g. ``command("dev down")``."""
    return f"{program()} {rest}"


def rewrite(text: str) -> str:
    """``text`` with every `` `airpool ...` `` hint naming the program as the user can run it."""
    if _MARK not in text:
        return text
    name = program()
    return text if name == "airpool" else text.replace(_MARK, f"`{name} ")
