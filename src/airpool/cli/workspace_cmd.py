"""``airpool workspace``: see the workspaces you belong to and choose the one commands act in."""

from __future__ import annotations

from typing import Any

import typer

from airpool.cli import exits, output, prompt, queries, session, settings
from airpool.domain.errors import NotFound

app = typer.Typer(
    help="List your workspaces and switch the one commands act in.",
    no_args_is_help=True,
    epilog=output.examples(
        "airpool workspace list",
        "airpool workspace switch   # choose with the arrow keys",
        "airpool workspace switch data",
    ),
)


@app.command("list", epilog=output.examples("airpool workspace list", "airpool workspace list -o json"))
@exits.handled
def list_(fmt: output.Format = output.output_option()) -> None:
    """List the workspaces you belong to; the current one is marked with *."""
    current = session.open_session()
    workspaces = current.api.execute(queries.WORKSPACES)["workspaces"]
    columns = [
        output.Column("current", lambda row: "*" if row["id"] == current.context.workspace_id else " "),
        output.field("id", "id"),
        output.field("label", "label"),
        output.field("description", "description"),
    ]
    output.show(workspaces, columns, fmt=fmt, empty="You belong to no workspace yet.")


@app.command(
    "switch",
    epilog=output.examples("airpool workspace switch   # choose with the arrow keys", "airpool workspace switch data"),
)
@exits.handled
def switch(
    workspace: str | None = typer.Argument(
        None, metavar="[WORKSPACE]", help="Workspace id or label (omit to choose from a list)."
    ),
) -> None:
    """Make WORKSPACE the one that deployment commands act in."""
    current = session.open_session()
    workspaces = current.api.execute(queries.WORKSPACES)["workspaces"]
    if not workspaces:
        raise NotFound("you belong to no workspace yet; ask an admin to add you to one")
    chosen = _find(workspaces, workspace) if workspace else _ask(workspaces)
    current.context.workspace_id = chosen["id"]
    current.context.workspace_label = chosen["label"]
    settings.save(current.config)
    typer.echo(f"Switched to workspace {chosen['label']} ({chosen['id']}).")


def _find(workspaces: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    matches = [w for w in workspaces if wanted in (w["id"], w["label"])]
    if len(matches) == 1:
        return matches[0]
    labels = ", ".join(w["label"] for w in workspaces)
    if not matches:
        raise NotFound(f"no workspace with id or label {wanted!r}; yours: {labels}")
    raise NotFound(f"several workspaces are labelled {wanted!r}; give the id (see `airpool workspace list`)")


def _ask(workspaces: list[dict[str, Any]]) -> dict[str, Any]:
    if not prompt.interactive():
        raise typer.BadParameter("no terminal to choose in; give the workspace id or label", param_hint="WORKSPACE")
    index = prompt.choose([f"{w['label']}  ({w['id']})" for w in workspaces], title="Choose a workspace")
    return workspaces[index]
