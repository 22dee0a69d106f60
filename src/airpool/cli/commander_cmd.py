"""``airpool commander``: run one commander worker alone (production runs several replicas next to the server)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

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
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve this process's Prometheus metrics (the pool health checks', the watches', claim to healthy, "
        "release durations, pool namespaces per state) at http://HOST:PORT/metrics; off by default.",
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", "--metrics-host", help="Address for --metrics-port (0.0.0.0 in a pod, for Prometheus)."
    ),
) -> None:
    import signal
    import threading

    from airpool import commander as commander_pkg
    from airpool import config as config_mod
    from airpool import logfmt
    from airpool.cli import open_files
    from airpool.commander import log_server, worker
    from airpool.domain.errors import AirpoolError
    from airpool.services import platform as platform_mod

    logfmt.configure()
    open_files.raise_to_hard_limit()  # thousands of pool watches and client connections
    try:
        cfg = config_mod.load(values) if values else config_mod.load_default()
        client = commander_pkg.connect(kubeconfig)
        plat = platform_mod.connect(cfg, url=database_url)
    except AirpoolError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    settings = worker.WorkerSettings(lease_seconds=lease_seconds)
    metrics_server = None
    try:
        if metrics_port is not None and not once:
            metrics_server = _serve_metrics(plat, metrics_host, metrics_port)
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
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        plat.close()


def _serve_metrics(plat: Any, host: str, port: int) -> Any:
    """prometheus_client's own HTTP server on ``host:port`` in a daemon thread, with the pool gauge (read from the
    database at each scrape) beside this process's counters and histograms; exit 1 naming the address when it
    cannot listen (before the worker starts)."""
    from prometheus_client import REGISTRY, start_http_server

    from airpool.services import metrics

    try:
        server, _ = start_http_server(port, addr=host)
    except OSError as exc:
        typer.echo(f"Error: could not serve metrics on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    REGISTRY.register(metrics.PoolCollector(plat))
    logging.getLogger("airpool.commander").info(
        "serving metrics", extra={"kv": {"url": f"http://{host}:{port}/metrics"}}
    )
    return server
