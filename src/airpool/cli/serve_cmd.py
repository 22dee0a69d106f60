"""``airpool serve``: the server (GraphQL API, web UI, health and metrics) with its background work.

Start-up order, each step failing with a clear message and exit code 1 before anything listens:
configuration -> database schema (refuse to start when it is behind or ahead, naming ``airpool db upgrade``;
``--migrate`` upgrades first, for development) -> the listening socket (a port in use fails here, before the pool
sync and before commander starts) -> pool sync from the configuration -> the admin account from
``AIRPOOL_ADMIN_USERNAME``/``AIRPOOL_ADMIN_PASSWORD`` -> serve. While serving, the scheduled cleanup (Astronomer's
cleanup cron job, run in-process) and, unless ``--no-commander``, the commander worker run in this process; SIGTERM
or Ctrl-C stops accepting requests, lets running ones finish, then stops both. Ctrl-C is how a person at the
terminal stops the server, so it ends with a goodbye and exit 0, not an error.

Requests are not logged one by one unless ``--access-log`` asks for it: the UI polls every few seconds, and a line
per poll would push the start banner and every warning out of sight within a minute. Errors are logged anyway.
"""

from __future__ import annotations

import functools
import logging
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from airpool.cli import exits, hints

log = logging.getLogger("airpool.serve")


def _cleanup_task(platform: Any) -> Any:
    from airpool.api.scheduler import CronThread
    from airpool.services import cleanup

    return CronThread(
        name="scheduled cleanup", schedule=platform.config.cleanup_schedule, job=lambda: cleanup.run(platform)
    )


class _CommanderWorker:
    """The in-process commander worker.

    Hook: ``airpool.commander.start_worker(platform)`` must return at once with an object whose ``stop()`` returns
    when the worker has stopped (its current job finished or its lease handed back). Until the commander package
    provides it, ``airpool serve`` runs without a worker and says so.
    """

    name = "commander worker"

    def __init__(self, platform: Any, *, start_worker: Callable[[Any], Any]) -> None:
        self._platform = platform
        self._start_worker = start_worker
        self._handle: Any = None

    @staticmethod
    def hook() -> Callable[[Any], Any] | None:
        from airpool import commander

        start_worker = getattr(commander, "start_worker", None)
        return start_worker if callable(start_worker) else None

    def start(self) -> None:
        """Idempotent: ``serve`` starts the worker before listening, so a missing kubeconfig is reported cleanly;
        the app's start-up then finds it running."""
        if self._handle is None:
            try:
                self._handle = self._start_worker(self._platform)
            except Exception as exc:  # lightkube raises its own errors for a missing or broken kubeconfig
                from airpool.commander.errors import CommanderError

                apart = "run `airpool serve --no-commander` and `airpool commander` apart."
                if isinstance(exc, CommanderError):  # it already says where to point commander: once is enough
                    advice = f"Or {apart}"
                else:
                    advice = f"Point AIRPOOL_COMMANDER_KUBECONFIG at commander's kubeconfig, or {apart}"
                raise exits.fail(f"the commander worker could not start: {str(exc).rstrip('.')}. {advice}") from None

    def stop(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.stop()


def _serve_one(
    platform: Any,
    background: list[Any],
    *,
    banner: Callable[[], None],
    listeners: list[socket.socket],
    log_level: str,
    access_log: bool,
) -> bool:
    """One process: the app (its lifespan starts and stops the background tasks) under uvicorn on ``listeners``;
    True when Ctrl-C stopped it."""
    import uvicorn

    from airpool.api.app import create_app
    from airpool.cli.serve_protocol import HTTPProtocol

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(platform, background=background),
            http=HTTPProtocol,
            log_level=log_level.lower(),
            log_config=None,  # uvicorn's lines go through the root logger, in logfmt like the rest
            access_log=access_log,
            timeout_graceful_shutdown=30,
            lifespan="on",
        )
    )
    banner()
    try:
        server.run(sockets=listeners)
    except KeyboardInterrupt:  # uvicorn shut down gracefully, then re-raised the Ctrl-C it caught
        return True
    if not server.started:
        raise exits.fail("the server did not start (see the message above)")
    return False


def _serve_processes(
    background: list[Any],
    *,
    banner: Callable[[], None],
    listeners: list[socket.socket],
    values: list[Path],
    url: str,
    workers: int,
    log_level: str,
    access_log: bool,
) -> int:
    """``--workers N``: the background tasks here and N server processes fed the connections ``listeners`` accept
    (``cli.serve_supervisor``); returns the signal that stopped them."""
    from airpool.cli import serve_supervisor

    banner()
    for task in background:
        task.start()
        log.info("started %s", task.name)
    return serve_supervisor.serve(
        listeners=listeners,
        count=workers,
        values=[str(p.resolve()) for p in values],
        database_url=url,
        log_level=log_level,
        access_log=access_log,
    )


def _load_config(values: list[Path]) -> Any:
    from airpool import config

    return config.load(values) if values else config.load_default()


def _url_host(host: str) -> str:
    """``host`` as a URL spells it: an IPv6 address in brackets (``http://[::1]:8871``, not ``http://::1:8871``)."""
    return f"[{host}]" if ":" in host else host


def _banner(*, url: str, admin_created: Any, initial_signup: bool, commander: str) -> None:
    typer.secho(f"airpool is serving at {url}", fg=typer.colors.GREEN, bold=True)
    typer.echo(f"  web UI         {url}/")
    typer.echo(f"  GraphQL API    {url}/v1   (astro config set -g local.houston {url}/v1)")
    typer.echo(f"  health         {url}/healthz  {url}/readyz  {url}/metrics")
    typer.echo(f"  commander      {commander}")
    if admin_created is not None:
        typer.echo(f"  admin          created {admin_created.username!r} from AIRPOOL_ADMIN_USERNAME/PASSWORD")
    if initial_signup:
        typer.echo(f"  log in         no user yet: sign up at {url}/ (the first user becomes system admin)")
    else:
        typer.echo(f"  log in         {hints.command('login ' + url)}   or   astro login localhost")
    typer.echo("  stop           Ctrl-C")


@exits.handled
def serve(
    values: list[Path] = typer.Option(
        [], "--values", "-f", help="values.yaml file(s), later ones win (default: AIRPOOL_VALUES or built-ins)."
    ),
    host: str | None = typer.Option(None, "--host", help="Address to listen on (default: server.host, 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", help="Port to listen on (default: server.port, 8871)."),
    no_commander: bool = typer.Option(
        False, "--no-commander", help="Do not run the commander worker here (run `airpool commander` instead)."
    ),
    migrate: bool = typer.Option(False, "--migrate", help="Upgrade the database schema first (development)."),
    no_cleanup: bool = typer.Option(
        False,
        "--no-cleanup",
        help="Do not schedule the soft-delete cleanup here (it runs elsewhere, e.g. the Helm chart's CronJob).",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        "-w",
        min=1,
        max=64,
        help="Server processes behind the port (PostgreSQL recommended): the parent accepts each connection and "
        "hands it to them in turn. The commander worker and the scheduled cleanup still run once, in the parent.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    access_log: bool = typer.Option(
        False, "--access-log", help="Log every HTTP request (off by default: the UI polls every few seconds)."
    ),
) -> None:
    """Serve the GraphQL API at /v1, the web UI, /healthz, /readyz and /metrics."""
    from airpool import logfmt
    from airpool.cli import open_files, serve_supervisor
    from airpool.services import auth, pool, schema
    from airpool.services import platform as platform_service

    logfmt.configure(level=log_level.upper())
    open_files.raise_to_hard_limit()  # thousands of pool watches and client connections
    config = _load_config(values)
    url = schema.database_url(config.database_url, config.data_dir)
    if migrate:
        state = schema.upgrade(url)
        typer.echo(state.message)
    platform = platform_service.connect(config, url=url, require_schema=True)
    background: list[Any] = []
    interrupted = terminated = False
    bind_host = host or config.server.host
    bind_port = port if port is not None else config.server.port
    try:
        # Before anything starts: a second `serve` on a port in use must not sync the pool or start a commander.
        listeners = serve_supervisor.listen(bind_host, bind_port)
    except typer.Exit:
        platform.close()
        raise
    try:
        report = pool.sync(platform)
        if report.changed:
            log.info("pool synced: %s", report.describe())
        admin = auth.ensure_admin_from_env(platform)
        if not no_cleanup:
            background.append(_cleanup_task(platform))
        if no_commander:
            commander_state = "not in this process (--no-commander)"
        elif (start_worker := _CommanderWorker.hook()) is not None:
            worker = _CommanderWorker(platform, start_worker=start_worker)
            worker.start()
            background.append(worker)
            commander_state = "running in this process"
        else:
            commander_state = "not available in this build (airpool.commander has no start_worker)"
        public = config.server.public_url or f"http://{_url_host(bind_host)}:{bind_port}"
        show_banner = functools.partial(
            _banner,
            url=public.rstrip("/"),
            admin_created=admin,
            initial_signup=auth.auth_config(platform).initial_signup,
        )
        if workers > 1:
            if url.startswith("sqlite"):
                log.warning(
                    "--workers %d on SQLite: the server processes write one at a time (SQLite's lock), so more "
                    "processes serve reads faster but not writes; use PostgreSQL (AIRPOOL_DATABASE_URL) for that",
                    workers,
                )
            stopped_by = _serve_processes(
                background,
                banner=functools.partial(
                    show_banner, commander=f"{commander_state} (the parent of {workers} server processes)"
                ),
                listeners=listeners,
                values=values,
                url=url,
                workers=workers,
                log_level=log_level,
                access_log=access_log,
            )
            interrupted, terminated = stopped_by == signal.SIGINT, stopped_by == signal.SIGTERM
        else:
            interrupted = _serve_one(
                platform,
                background,
                banner=functools.partial(show_banner, commander=commander_state),
                listeners=listeners,
                log_level=log_level,
                access_log=access_log,
            )
    finally:
        for task in reversed(background):
            task.stop()  # idempotent: normally the app's shutdown already stopped them
        for listener in listeners:
            listener.close()
        platform.close()
    if interrupted:
        typer.echo("airpool stopped (Ctrl-C): running requests finished and commander handed back its work. Goodbye.")
    elif terminated:  # as one process ends after SIGTERM (uvicorn raises it again): status 143
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
