"""``airpool pool``: the platform admin's view of the namespace pool, and early release of a retained namespace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from airpool.cli import exits, hints, output, prompt, queries, session

app = typer.Typer(
    help="See every pool namespace's state and holder, release retained ones early (system admins).",
    no_args_is_help=True,
    epilog=output.examples(
        "airpool pool status",
        "airpool pool status -o json | jq -r '.namespaces[] | select(.state == \"retained\") | .name'",
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


@app.command("status", epilog=output.examples("airpool pool status", "airpool pool status -o json"))
@exits.handled
def status(fmt: output.Format = output.output_option()) -> None:
    """Every namespace of the pool: state, holder, since when, when a retained one returns, health reason."""
    current = session.open_session()
    pool = current.api.execute(queries.POOL_STATUS)["poolStatus"]
    if fmt is output.Format.JSON:
        output.print_json(pool)
        return
    if not pool["enabled"]:
        typer.echo("No namespace pool is configured: commander creates a namespace for each Deployment.")
        return
    output.show(pool["namespaces"], _COLUMNS, fmt=fmt, empty="The pool has no namespaces.")
    typer.echo(summary(pool))


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
    typer.echo(f"Namespace {released['name']} is now {released['state']}.")
    if released["state"] == "misconfigured" and released.get("healthReason"):
        typer.echo(hints.rewrite(f"{released['healthReason']} (`airpool pool status` shows when it is available)."))


def _namespaces(current: session.Session) -> list[dict[str, Any]]:
    return list(current.api.execute(queries.POOL_STATUS)["poolStatus"]["namespaces"])
