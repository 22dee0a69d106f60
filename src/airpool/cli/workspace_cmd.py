"""``airpool workspace``: see the workspaces you belong to (and your role in each), create one, and choose the one
commands act in. Adding people to a workspace is a workspace admin's job through the API (``workspaceAddUser``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from airpool.cli import exits, hints, output, prompt, queries, session, settings
from airpool.domain.errors import NotFound

app = typer.Typer(
    help="List your workspaces, create one, and switch the one commands act in.",
    no_args_is_help=True,
    epilog=output.examples(
        "airpool workspace list",
        "airpool workspace create Research --switch",
        "airpool workspace switch   # choose with the arrow keys",
        "airpool workspace switch data",
    ),
)


_ROLES = {"WORKSPACE_ADMIN": "admin", "WORKSPACE_EDITOR": "editor", "WORKSPACE_VIEWER": "viewer"}


def _role(workspace: Mapping[str, Any], me: Mapping[str, Any]) -> str:
    """Your role in ``workspace``: its binding for you, else (a system admin sees every workspace) "system admin"."""
    for binding in workspace.get("roleBindings") or []:
        if (binding.get("user") or {}).get("username") == me["username"]:
            return _ROLES.get(binding["role"], str(binding["role"]))
    return "system admin" if me.get("isSystemAdmin") else "-"


@app.command("list", epilog=output.examples("airpool workspace list", "airpool workspace list -o json"))
@exits.handled
def list_(fmt: output.Format = output.output_option()) -> None:
    """List the workspaces you belong to and your role in each; the current one is marked with *."""
    current = session.open_session()
    answer = current.api.execute(queries.WORKSPACES_AND_SELF)
    me, workspaces = answer["self"], answer["workspaces"]
    columns = [
        output.Column("current", lambda row: "*" if row["id"] == current.context.workspace_id else " "),
        output.field("id", "id", copy=True),
        output.field("label", "label"),
        output.Column("your role", lambda row: _role(row, me)),
        output.field("description", "description", drop=1),
    ]
    output.show(workspaces, columns, fmt=fmt, empty="You belong to no workspace yet.")
    if fmt is output.Format.TABLE:
        who = f"{me['fullName']} ({me['username']})" if me.get("fullName") else me["username"]
        typer.echo(f"Logged in as {who}" + (", system admin." if me.get("isSystemAdmin") else "."), err=True)


@app.command(
    "create",
    epilog=output.examples("airpool workspace create Research", "airpool workspace create Research --switch"),
)
@exits.handled
def create(
    label: str = typer.Argument(..., metavar="LABEL", help="The workspace's name."),
    description: str = typer.Option("", "--description", "-d", help="Free text shown with the workspace."),
    switch_: bool = typer.Option(False, "--switch", help="Then make it the workspace commands act in."),
    fmt: output.Format = output.output_option(),
) -> None:
    """Create a workspace; you become its admin."""
    current = session.open_session()
    created = current.api.execute(queries.CREATE_WORKSPACE, {"label": label, "description": description or None})
    workspace = created["createWorkspace"]
    if switch_:
        current.context.workspace_id = workspace["id"]
        current.context.workspace_label = workspace["label"]
        settings.save(current.config)
    if fmt is output.Format.JSON:
        output.print_json(workspace)
        return
    typer.echo(f"Created workspace {workspace['label']} ({workspace['id']}); you are its admin.")
    if switch_:
        typer.echo(f"Switched to workspace {workspace['label']}.")
    else:
        typer.echo(hints.rewrite(f"Act in it with `airpool workspace switch {workspace['id']}`."))


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
