"""The ``airpool`` command's entry point: the few commands scripts run in loops are served before the Typer app is
built, the rest by it (``cli.main``).

Building the Typer app means importing Typer and click and registering every command module: about three quarters
of the CLI's start-up. ``airpool deployment list`` (what a script polls, and what is measured against
``helm list``) needs none of it: its arguments are read here and the listing printed with the same code the Typer
command uses. ``airpool deployment delete NAME --yes ...`` (a script's delete, measured against ``helm uninstall
--wait``) likewise runs ``cli.deleting``, the Typer command's own code. Anything this parser does not know exactly
(``--help``, an unknown option, a bad value, a global option first) goes to the Typer app unchanged, so usage
errors and help read the same as ever.
"""

from __future__ import annotations

import os
import sys
from typing import Any

#: What ``airpool deployment list`` shows (the Typer command shows the same columns).
EMPTY = "No Deployments in this workspace."


def deployment_columns() -> list[Any]:
    from airpool.cli import output

    return [
        output.field("label", "label"),
        output.field("release name", "releaseName", copy=True),
        output.field("namespace", "namespace", copy=True),
        output.field("executor", "executor", drop=2),
        output.field("airflow", "airflowVersion", drop=1),
        output.field("status", "status", styled=True, copy=True),
        output.field("id", "id", copy=True),
    ]


def list_deployments(workspace: str | None, fmt: Any) -> None:
    """``airpool deployment list``: the Deployments of the workspace (``--workspace`` or the context's)."""
    from airpool.cli import output, queries, session

    current = session.open_session()
    variables = {"workspaceUuid": current.workspace_id(workspace), "releaseName": None}
    rows = list(current.api.execute(queries.WORKSPACE_DEPLOYMENTS, variables)["workspaceDeployments"])
    output.show(rows, deployment_columns(), fmt=fmt, empty=EMPTY)


_OPTIONS = {"-w": "workspace", "--workspace": "workspace", "-o": "output", "--output": "output"}


def _deployment_list_args(argv: list[str]) -> dict[str, str] | None:
    """``deployment list [-w ID] [-o table|json]`` exactly; None for anything else."""
    if argv[:2] != ["deployment", "list"]:
        return None
    found: dict[str, str] = {}
    rest = argv[2:]
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if name not in _OPTIONS or (eq and not name.startswith("--")):
            return None
        if not eq:
            if not rest or rest[0].startswith("-"):
                return None
            value = rest.pop(0)
        key = _OPTIONS[name]
        if key in found or not value:
            return None
        found[key] = value
    if found.get("output", "table").lower() not in ("table", "json"):
        return None
    return found


_FLAGS = {"--hard": ("hard", True), "--soft": ("hard", False), "--yes": ("yes", True), "-y": ("yes", True)}
_FLAGS |= {"--wait": ("wait", True)}
_DELETE_OPTIONS = {**_OPTIONS, "--timeout": "timeout"}


def _deployment_delete_args(argv: list[str]) -> dict[str, Any] | None:
    """``deployment delete REF --yes [--hard|--soft] [--wait] [--timeout S] [-w ID] [-o table|json]`` exactly
    (``--yes`` required: asking needs Typer); None for anything else."""
    if argv[:2] != ["deployment", "delete"]:
        return None
    found: dict[str, Any] = {}
    rest = argv[2:]
    while rest:
        arg = rest.pop(0)
        if arg in _FLAGS:
            key, flag = _FLAGS[arg]
            if key in found:
                return None
            found[key] = flag
            continue
        if not arg.startswith("-"):
            if "ref" in found or not arg:
                return None
            found["ref"] = arg
            continue
        name, eq, value = arg.partition("=")
        if name not in _DELETE_OPTIONS or (eq and not name.startswith("--")):
            return None
        if not eq:
            if not rest or rest[0].startswith("-"):
                return None
            value = rest.pop(0)
        key = _DELETE_OPTIONS[name]
        if key in found or not value:
            return None
        found[key] = value
    if "ref" not in found or not found.get("yes") or found.get("output", "table").lower() not in ("table", "json"):
        return None
    if "timeout" in found:
        try:
            found["timeout"] = float(found["timeout"])
        except ValueError:
            return None
        if not found["timeout"] >= 1:
            return None
    return found


def _fast(argv: list[str]) -> int | None:
    """The exit code of a command served here; None when the Typer app must serve it."""
    listing = _deployment_list_args(argv)
    deleting = _deployment_delete_args(argv) if listing is None else None
    if listing is None and deleting is None:
        return None
    from airpool.cli import output

    try:
        if listing is not None:
            list_deployments(listing.get("workspace"), output.Format(listing.get("output", "table").lower()))
        elif deleting is not None:
            from airpool.cli import deleting as delete_command

            delete_command.delete(
                deleting["ref"],
                hard=deleting.get("hard"),
                yes=True,
                wait=bool(deleting.get("wait")),
                timeout=deleting.get("timeout", 600.0),
                workspace=deleting.get("workspace"),
                fmt=output.Format(deleting.get("output", "table").lower()),
            )
    except (Exception, KeyboardInterrupt) as exc:
        from airpool.cli import exits

        code = exits.report(exc)
        if code is None:
            raise
        return code
    return 0


def run() -> None:
    code = _fast(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from airpool.cli import main

    main.run()


def script() -> None:
    """The ``airpool`` console script: ``run``, except that a command the fast path served leaves without the
    interpreter's teardown once its output is flushed. Freeing every module and object the command imported was
    about 20 ms of a 110 ms ``airpool deployment list`` (measured at load 4: 94 ms against 113 ms, median of 15)."""
    code = _fast(sys.argv[1:])
    if code is None:
        from airpool.cli import main

        main.run()
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # a reader that went away (a closed pipe): the interpreter's own exit reports it, as before
        sys.exit(code)
    os._exit(code)
