"""``airpool context``: several servers (or users) side by side, switched like kubectl contexts."""

from __future__ import annotations

import typer

from airpool.cli import exits, output, settings

app = typer.Typer(
    help="List and switch contexts: one per server you logged in to.",
    no_args_is_help=True,
    epilog=output.examples(
        "airpool context list",
        "airpool context use prod.example.com",
        "AIRPOOL_CONTEXT=staging airpool deployment list   # one command against another context",
    ),
)


def _names(incomplete: str) -> list[str]:
    """Shell completion of context names; reads the config file only when the shell asks."""
    try:
        return [name for name in settings.load().contexts if name.startswith(incomplete)]
    except Exception:  # completion must never print a traceback into the user's shell
        return []


@app.command("list", epilog=output.examples("airpool context list", "airpool context list -o json"))
@exits.handled
def list_(fmt: output.Format = output.output_option()) -> None:
    """List the contexts in the config file; the current one is marked with *."""
    config = settings.load()
    current = settings.current_or_none(config)
    rows = [
        {
            "current": ctx is current,
            "name": ctx.name,
            "server": ctx.server,
            "username": ctx.username,
            "loggedIn": bool(ctx.token),
            "workspace": ctx.workspace_label,
            "workspaceId": ctx.workspace_id,
        }
        for ctx in config.contexts.values()
    ]
    columns = [
        output.Column("current", lambda row: "*" if row["current"] else " "),
        output.field("name", "name", copy=True),
        output.field("server", "server", copy=True),
        output.field("user", "username"),
        output.field("logged in", "loggedIn"),
        output.field("workspace", "workspace"),
    ]
    output.show(rows, columns, fmt=fmt, empty=f"No contexts in {config.path}; run `airpool login URL`.")


@app.command("use", epilog=output.examples("airpool context use localhost:8871"))
@exits.handled
def use(
    name: str = typer.Argument(
        ..., metavar="NAME", help="Context name (see `airpool context list`).", autocompletion=_names
    ),
) -> None:
    """Make NAME the current context."""
    config = settings.load()
    context = settings.find(config, name=name)
    config.current = context.name
    settings.save(config)
    typer.echo(f"Switched to context {context.name} ({context.server}).")


@app.command("delete", epilog=output.examples("airpool context delete old.example.com"))
@exits.handled
def delete(name: str = typer.Argument(..., metavar="NAME", help="Context to remove.", autocompletion=_names)) -> None:
    """Remove a context and its token from the config file."""
    config = settings.load()
    context = settings.find(config, name=name)
    del config.contexts[context.name]
    if config.current == context.name:
        config.current = None
    settings.save(config)
    typer.echo(f"Deleted context {context.name}.")
