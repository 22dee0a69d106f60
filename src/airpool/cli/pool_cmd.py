"""``airpool pool``: the platform admin's view of the namespace pool, and early release of a retained namespace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from airpool.cli import exits, hints, output, prompt, queries, session
from airpool.domain.pool import RETENTION_ENDED, NamespaceState

app = typer.Typer(
    help="See every pool namespace's state and holder, release retained ones early (system admins).",
    no_args_is_help=True,
    epilog=output.examples(
        "airpool pool status",
        "airpool pool status --state retained --all -o json | jq -r '.namespaces[].name'",
        "airpool pool release pool-c",
        "airpool pool release pool-c --force",
    ),
)


def _holder(row: Mapping[str, Any]) -> str | None:
    holder = row.get("holder")
    if not holder:
        return None
    return f"{holder['label']} ({holder['releaseName']})" if holder.get("label") else holder["releaseName"]


_COLUMNS = [
    output.field("namespace", "name", copy=True),
    output.field("state", "state", styled=True, copy=True),
    output.Column("holder", _holder),
    output.field("workspace", "holder.workspace.label", drop=2),
    output.field("since", "since", copy=True, drop=1),
    output.field("releases at", "releasesAt", copy=True),
    output.field("reason", "healthReason"),
]


def summary(status: dict[str, Any]) -> str:
    """One line of counts per state, e.g. ``3 namespaces: 1 available, 2 claimed``."""
    counts = [f"{c['count']} {c['state']}" for c in status["counts"] if c["count"]]
    total = sum(c["count"] for c in status["counts"])
    line = f"{total} namespaces" + (f": {', '.join(counts)}" if counts else "")
    if status.get("nextRelease"):
        line += f"; next retained one returns at {status['nextRelease']}"
    return line


#: Rows ``pool status`` shows unless told otherwise: a pool of 10,000 stays a quick, readable answer.
DEFAULT_LIMIT = 100
_STATES = ("available", "claimed", "releasing", "retained", "misconfigured", "retired")


@app.command(
    "status",
    epilog=output.examples(
        "airpool pool status",
        "airpool pool status --state misconfigured --state retained",
        "airpool pool status --search team-a --sort since --desc",
        "airpool pool status --page 3",
        "airpool pool status --all -o json",
    ),
)
@exits.handled
def status(
    states: list[str] = typer.Option(
        [], "--state", "-s", help=f"Only namespaces in this state (repeatable): {', '.join(_STATES)}."
    ),
    search: str = typer.Option("", "--search", "-q", help="Only namespaces whose name contains this text."),
    sort: str = typer.Option("name", "--sort", help="Sort by name, state or since (ties by name)."),
    desc: bool = typer.Option(False, "--desc", help="Reverse the order."),
    limit: int = typer.Option(DEFAULT_LIMIT, "--limit", "-n", min=1, max=1000, help="Rows per page (1 to 1000)."),
    page: int = typer.Option(1, "--page", "-p", min=1, help="Which page of --limit rows."),
    show_all: bool = typer.Option(False, "--all", help="Every matching namespace, however many."),
    fmt: output.Format = output.output_option(),
) -> None:
    """Pool namespaces (100 a page unless --limit/--all): state, holder, since when, when a retained one returns,
    health reason. Filtering, sorting and paging happen on the server."""
    unknown = [s for s in states if s not in _STATES]
    if unknown:
        raise exits.fail(f"--state {unknown[0]!r} is not a pool state; allowed: {', '.join(_STATES)}", code=exits.USAGE)
    if sort not in ("name", "state", "since"):
        raise exits.fail(f"--sort {sort!r} is not allowed; allowed: name, state, since", code=exits.USAGE)
    variables: dict[str, Any] = {"states": states or None, "search": search or None, "sortBy": sort, "sortDesc": desc}
    if not show_all:
        variables |= {"take": limit, "skip": (page - 1) * limit}
    current = session.open_session()
    pool = current.api.execute(queries.POOL_STATUS, variables)["poolStatus"]
    more = _showing(pool, page=1 if show_all else page, limit=limit, first=1 if show_all else (page - 1) * limit + 1)
    if fmt is output.Format.JSON:
        output.print_json(pool)
        if more:  # on stderr: stdout stays JSON, and a script learns it got one page of several
            typer.echo(more, err=True)
        return
    if not pool["enabled"]:
        typer.echo("No namespace pool is configured: commander creates a namespace for each Deployment.")
        return
    filtered = bool(states or search)
    empty = "No pool namespace matches." if filtered else "The pool has no namespaces."
    if not show_all and page > 1 and not pool["namespaces"] and pool["total"]:
        empty = f"Page {page} is past the end: {pool['total']} namespaces match, {limit} a page."
    output.show(pool["namespaces"], _COLUMNS, fmt=fmt, empty=empty)
    if more:
        typer.echo(more)
    typer.echo(summary(pool))


def _showing(pool: Mapping[str, Any], *, page: int, limit: int, first: int) -> str | None:
    """``Showing 1-100 of 3000 matching namespaces; --page 2 for more, --all for every one.`` when the answer holds
    fewer rows than match; None when it holds them all."""
    shown = len(pool["namespaces"])
    if not shown or shown >= pool["total"]:
        return None
    last = first + shown - 1
    line = f"Showing {first}-{last} of {pool['total']} matching namespaces"
    return f"{line}; --page {page + 1} for more, --all for every one." if last < pool["total"] else f"{line}."


@app.command(
    "release",
    epilog=output.examples(
        "airpool pool release pool-c",
        "airpool pool release pool-c --yes   # no question (scripts)",
        "airpool pool release pool-c --force   # stuck releasing",
    ),
)
@exits.handled
def release(
    name: str = typer.Argument(..., metavar="NAME", help="A retained (or, with --force, releasing) pool namespace."),
    force: bool = typer.Option(
        False,
        "--force",
        help="For a namespace stuck releasing: give up on removing its deleted Deployment; the namespace is offered "
        "once commander's check finds it holds nothing of any Deployment.",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Return a retained namespace to the pool now instead of at the end of its retention period; with --force,
    a namespace whose Deployment's removal is stuck.

    Either ends the deleted Deployment's stay for good (a soft delete's data can no longer be recovered), so it asks
    first unless --yes."""
    if not yes and not prompt.interactive():
        raise typer.BadParameter("no terminal to confirm on; pass --yes to release", param_hint="--yes")
    current = session.open_session()
    if not yes:
        found = next((ns for ns in _namespaces(current) if ns["name"] == name), None)
        if found is not None and found["state"] == "retained":
            typer.echo(
                f"Namespace {name} keeps the data of the deleted Deployment {_holder(found) or ''} until "
                f"{found['releasesAt']}. Releasing it now ends that for good and offers the namespace to new "
                "Deployments.",
                err=True,
            )
        elif found is not None and found["state"] == "releasing" and force:
            typer.echo(
                f"Namespace {name} is still being cleared of the deleted Deployment {_holder(found) or ''}. "
                "--force gives up on that removal; commander's check offers the namespace once nothing of any "
                "Deployment is left in it.",
                err=True,
            )
        if not typer.confirm(f"Release namespace {name} now?", default=False, err=True):
            typer.echo("Nothing released.")
            return
    variables = {"name": name, "force": True if force else None}
    released = current.api.execute(queries.RELEASE_NAMESPACE, variables)["releaseNamespace"]
    if released["state"] == NamespaceState.MISCONFIGURED.value and released.get("healthReason") == RETENTION_ENDED:
        typer.echo(
            hints.rewrite(
                f"Namespace {released['name']} is released: commander removes the data its deleted Deployment kept "
                "and checks the namespace, then offers it (`airpool pool status` shows when it is available)."
            )
        )
        return
    typer.echo(f"Namespace {released['name']} is now {released['state']}.")
    if released["state"] == "misconfigured" and released.get("healthReason"):
        typer.echo(hints.rewrite(f"{released['healthReason']} (`airpool pool status` shows when it is available)."))


def _namespaces(current: session.Session) -> list[dict[str, Any]]:
    return list(current.api.execute(queries.POOL_STATUS)["poolStatus"]["namespaces"])
