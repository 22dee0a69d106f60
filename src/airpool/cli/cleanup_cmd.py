"""``airpool cleanup``: finish soft deletes whose retention ended (what the server also runs on a schedule)."""

from __future__ import annotations

from pathlib import Path

import typer

from airpool.cli import db_cmd, exits


@exits.handled
def cleanup(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be released."),
    values: list[Path] | None = db_cmd._VALUES,
    url: str | None = db_cmd._URL,
) -> None:
    """Return retained namespaces past their release time to the pool and remove their Deployments for good.

    Safe to run while the server (or other replicas) run the same cleanup. It does not sync the pool with the
    values files: whether a released name is still in the pool is what the server last synced."""
    from airpool import config
    from airpool.services import cleanup as cleanup_service
    from airpool.services import platform

    cfg = config.load(values) if values else config.load_default()
    plat = platform.connect(cfg, url=db_cmd.database_url(values, url))
    try:
        report = cleanup_service.run(plat, dry_run=dry_run)
    finally:
        plat.close()
    verb = "would release" if dry_run else "released"
    names = ", ".join(report.released) or "none"
    typer.echo(f"{verb} {len(report.released)} namespace(s): {names}")
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{verb} {len(report.finalized)} soft-deleted Deployment(s)")
