"""``airpool commander``: run one commander worker alone (production runs several replicas next to the server)."""

from __future__ import annotations

from pathlib import Path

import typer

HELP = (
    "Run a commander worker: lease jobs from the database and apply them to the cluster with commander's own "
    "identity. Stops on SIGTERM or Ctrl-C once its current job is handed back."
)


def commander(
    values: list[Path] = typer.Option([], "--values", "-f", help="values.yaml files (later files win)."),
    kubeconfig: Path | None = typer.Option(
        None,
        "--kubeconfig",
        help="Commander's kubeconfig (default: $AIRPOOL_COMMANDER_KUBECONFIG, else the pod's service account).",
    ),
    database_url: str | None = typer.Option(None, "--database-url", help="Overrides the configured database."),
    once: bool = typer.Option(False, "--once", help="Run the jobs queued now, then exit."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Jobs run at once (worker threads)."),
    lease_seconds: int = typer.Option(
        60, "--lease-seconds", min=1, help="Lease length; a dead worker's job is taken over after it."
    ),
) -> None:
    import signal
    import threading

    from airpool import commander as commander_pkg
    from airpool import config as config_mod
    from airpool import logfmt
    from airpool.commander import log_server, worker
    from airpool.domain.errors import AirpoolError
    from airpool.services import platform as platform_mod

    logfmt.configure()
    try:
        cfg = config_mod.load(values) if values else config_mod.load_default()
        client = commander_pkg.connect(kubeconfig)
        plat = platform_mod.connect(cfg, url=database_url)
    except AirpoolError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    settings = worker.WorkerSettings(lease_seconds=lease_seconds)
    try:
        if once:
            single = worker.Worker(plat, client, settings=settings)
            while single.run_once() is not None:
                pass
            return
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            logs = log_server.LogServer(plat, client).start()
        except (AirpoolError, OSError) as exc:
            typer.echo(f"Error: commander's log endpoint could not start: {getattr(exc, 'message', exc)}", err=True)
            raise typer.Exit(1) from None
        handle = worker.start(plat, client, concurrency=concurrency, settings=settings)
        try:
            while not stopped.wait(0.5) and handle.alive:
                pass
        except KeyboardInterrupt:
            pass
        logs.stop()
        handle.stop()
    finally:
        plat.close()
