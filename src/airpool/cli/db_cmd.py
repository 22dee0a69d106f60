"""``airpool db``: bring the database schema to this airpool's version, or say where it stands.

The database is the one the server uses: ``--database-url``, else ``AIRPOOL_DATABASE_URL``, else the values files
(``--values`` or ``AIRPOOL_VALUES``), else the SQLite file in the data directory.
"""

from __future__ import annotations

from pathlib import Path

import typer

from airpool.cli import exits

app = typer.Typer(help="Migrate the airpool database schema (SQLite or PostgreSQL).", no_args_is_help=True)

_VALUES = typer.Option(None, "--values", "-f", help="values.yaml file(s) naming the database (repeatable).")
_URL = typer.Option(None, "--database-url", help="SQLAlchemy URL; overrides the configuration.")


def database_url(values: list[Path] | None, url: str | None) -> str:
    """The URL the server would use, for the commands that work on the database directly."""
    from airpool import config
    from airpool.services import schema

    cfg = config.load(values) if values else config.load_default()
    return url or schema.database_url(cfg.database_url, cfg.data_dir)


@app.command()
@exits.handled
def upgrade(values: list[Path] | None = _VALUES, url: str | None = _URL) -> None:
    """Migrate the schema to the newest revision (safe to run again)."""
    from airpool.services import schema

    state = schema.upgrade(database_url(values, url))
    typer.echo(state.message)


@app.command()
@exits.handled
def current(values: list[Path] | None = _VALUES, url: str | None = _URL) -> None:
    """Show the schema revision; exit 1 when it is behind or ahead of this airpool."""
    from airpool.services import schema

    state = schema.check(database_url(values, url))
    if state.status is not schema.SchemaStatus.CURRENT:
        raise exits.fail(state.message)
    typer.echo(state.message)
