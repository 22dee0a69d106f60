"""``airpool deployment logs COMPONENT DEPLOYMENT``: a Deployment component's log lines, and ``--follow`` for new ones.

Like ``astro deployment logs``, with two differences a person at a terminal wants: without ``--since`` it shows the
newest lines (``--limit``, 100 by default; the astro CLI asks for lines after "now", which is empty), and
``--follow`` first shows the newest lines and then streams from the last one shown, so nothing falls between the
two. Following uses the same WebSocket subscription as the astro CLI (graphql-ws at ``/ws``); Ctrl-C stops it
cleanly (the server is told, the connection closed, exit 0).
"""

from __future__ import annotations

import contextlib
import json
import shlex
from datetime import UTC, datetime
from typing import Any

import typer

from airpool.cli import client, deployment_cmd, exits, hints, output, session
from airpool.domain import logs as log_rules
from airpool.domain.errors import AirpoolError, InvalidInput

LOGS = """
query Logs($deploymentUuid: Uuid!, $component: String, $timestamp: DateTime, $search: String, $limit: Int) {
  logs(deploymentUuid: $deploymentUuid, component: $component, timestamp: $timestamp, search: $search, limit: $limit) {
    timestamp message pod
  }
}"""

SUBSCRIBE = """
subscription Log($deploymentUuid: Uuid!, $component: String, $timestamp: DateTime, $search: String) {
  log(deploymentUuid: $deploymentUuid, component: $component, timestamp: $timestamp, search: $search) {
    timestamp message pod
  }
}"""

WHY = """
query LogsAbsence($deploymentUuid: Uuid!, $component: String, $timestamp: DateTime, $search: String) {
  logsAbsence(deploymentUuid: $deploymentUuid, component: $component, timestamp: $timestamp, search: $search) {
    kind reason
  }
}"""

#: Lines shown without --limit, and before following when no --since is given.
SHOWN = 100
FOLLOW_BACKLOG = 20


def _since(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        delta = log_rules.parse_since(value)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message) from None
    return (datetime.now(UTC) - delta).isoformat()


def _show(line: dict[str, Any], *, timestamps: bool) -> None:
    text = str(line.get("message") or "").rstrip("\n")
    if timestamps:
        text = f"{line.get('timestamp')} {line.get('pod')} {text}"
    typer.echo(text)


def ws_url(server: str) -> str:
    """``https://host/x`` -> ``wss://host/x/ws`` (the subscription path Houston uses)."""
    scheme, rest = server.split("://", 1)
    return ("wss" if scheme == "https" else "ws") + "://" + rest.rstrip("/") + "/ws"


@deployment_cmd.app.command(
    "logs",
    epilog=output.examples(
        "airpool deployment logs scheduler etl            # its newest 100 lines",
        "airpool deployment logs webserver etl --since 25m --search ERROR",
        "airpool deployment logs workers etl -f           # then new lines as they come; Ctrl-C stops",
    ),
)
@exits.handled
def logs(
    component: str = typer.Argument(
        ...,
        metavar="COMPONENT",
        help="scheduler, webserver (Airflow 3's API server), triggerer, workers (Celery; KubernetesExecutor task "
        "pods), dag-processor (Airflow 3).",
    ),
    deployment: str = deployment_cmd._DEPLOYMENT_ARGUMENT,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep showing new lines until Ctrl-C."),
    search: str | None = typer.Option(None, "--search", "-s", help="Only lines containing this (any case)."),
    since: str | None = typer.Option(
        None, "--since", "-t", help="Only lines newer than this duration: 90s, 25m, 1h30m, 2d.", callback=_since
    ),
    limit: int | None = typer.Option(
        None,
        "--limit",
        "-n",
        min=1,
        max=log_rules.MAX_LIMIT,
        help=f"At most this many lines (default {SHOWN}; with --follow {FOLLOW_BACKLOG} before the new ones).",
    ),
    timestamps: bool = typer.Option(False, "--timestamps", help="Prefix each line with its time and pod."),
    workspace: str | None = deployment_cmd._WORKSPACE_OPTION,
) -> None:
    """Show a Deployment component's logs (read by commander from its pods)."""
    if not log_rules.is_component(component) and log_rules.is_component(deployment):
        # `logs etl scheduler`: every other deployment command takes the Deployment first, this one (like the astro
        # CLI's) the component first; say so instead of looking for a Deployment called 'scheduler'.
        raise typer.BadParameter(
            f"{component!r} is not a component and {deployment!r} is; the component comes first: "
            f"`{hints.command(f'deployment logs {shlex.quote(deployment)} {shlex.quote(component)}')}`",
            param_hint="COMPONENT",
        )
    current = session.open_session()
    found = deployment_cmd._resolve(current, deployment, workspace=workspace)
    variables: dict[str, Any] = {
        "deploymentUuid": found["id"],
        "component": component,
        "timestamp": since,
        "search": search,
    }
    start, nothing_yet = since, False
    if not follow or since is None:
        wanted = limit or (FOLLOW_BACKLOG if follow else SHOWN)
        lines = current.api.execute(LOGS, {**variables, "limit": wanted})["logs"]
        for line in lines:
            _show(line, timestamps=timestamps)
        if not follow:
            if not lines:
                where = " in that time" if since else ""
                typer.echo(f"No log lines{' match' if search else ''}{where}.", err=True)
                _why_none(current, variables, component=component, deployment=deployment)
            return
        nothing_yet = not lines
        if nothing_yet:
            # Following shows nothing until a line comes, which on a pod that never logs is forever: say so first.
            typer.echo(f"No log lines{' match' if search else ''} yet.", err=True)
            _why_none(current, variables, component=component, deployment=deployment, following=True)
        start = lines[-1]["timestamp"] if lines else datetime.now(UTC).isoformat()
    _follow(current, {**variables, "timestamp": start}, timestamps=timestamps, say_waiting=nothing_yet)


def _why_none(
    current: session.Session, variables: dict[str, Any], *, component: str, deployment: str, following: bool = False
) -> None:
    """Say why there are no lines (commander looks at the component's pods) and what to run next. An older server
    or no commander to ask: the plain "No log lines." stands."""
    try:
        why = current.api.execute(WHY, variables)["logsAbsence"]
    except AirpoolError:
        return
    typer.echo(hints.rewrite(f"Why: {why['reason']}."), err=True)
    logs_again = f"deployment logs {shlex.quote(component)} {shlex.quote(deployment)}"
    follow = f"`{hints.command(logs_again + ' -f')}`"
    jobs = f"`{hints.command(f'deployment jobs {shlex.quote(deployment)}')}`"
    then = {
        log_rules.NO_POD: f"{jobs} shows what commander is doing with the Deployment",
        log_rules.NO_TASK_POD: f"{follow} shows the next task's lines as they come",
        log_rules.NOT_STARTED: f"{follow} shows its first lines as they come; {jobs} shows commander's work",
        log_rules.QUIET: f"{follow} shows new lines as they come",
        log_rules.FILTERED: f"`{hints.command(logs_again)}` (no --search or --since) shows its newest lines",
    }.get(why["kind"])
    if then and not following:
        typer.echo(f"Next: {then}.", err=True)


def _follow(
    current: session.Session, variables: dict[str, Any], *, timestamps: bool, say_waiting: bool = False
) -> None:
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
    from websockets.sync.client import connect

    url = ws_url(current.context.server)
    try:
        conn = connect(url, subprotocols=["graphql-ws"], open_timeout=30)  # type: ignore[list-item]
    except KeyboardInterrupt:  # Ctrl-C before the stream is open: as clean a stop as after
        typer.echo("", err=True)
        return
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
        raise client.Unreachable(f"cannot open the log stream at {url} ({exc}); check that the server runs") from None
    with conn:
        try:
            conn.send(json.dumps({"type": "connection_init", "payload": {"authorization": current.context.token}}))
            conn.send(json.dumps({"type": "start", "id": "1", "payload": {"query": SUBSCRIBE, "variables": variables}}))
            if say_waiting:
                typer.echo("Waiting for new lines; Ctrl-C stops.", err=True)
            while True:
                try:
                    raw = conn.recv(timeout=1)
                except TimeoutError:
                    continue
                if _handle(json.loads(raw), current=current, timestamps=timestamps):
                    return
        except KeyboardInterrupt:
            with contextlib.suppress(ConnectionClosed, OSError):
                conn.send(json.dumps({"type": "stop", "id": "1"}))
            conn.close()
            typer.echo("", err=True)
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == 4401:
                raise client.TokenExpired(
                    f"your token for {current.context.server} is no longer valid; log in again with "
                    f"`airpool login {current.context.server}`"
                ) from None
            raise AirpoolError(f"the log stream from {current.context.server} ended ({exc})") from None


def _handle(message: dict[str, Any], *, current: session.Session, timestamps: bool) -> bool:
    """Show one message; True when the stream is over. Refusals come as ``data`` with ``errors`` (before the first
    line) or as ``error`` / ``connection_error`` with a ``{message}`` payload."""
    kind = message.get("type")
    payload = message.get("payload")
    if kind == "data" and isinstance(payload, dict):
        if payload.get("errors"):
            _refused(payload["errors"][0], current=current)
        line = (payload.get("data") or {}).get("log")
        if line:
            _show(line, timestamps=timestamps)
        return False
    if kind in ("error", "connection_error"):
        _refused(payload[0] if isinstance(payload, list) and payload else payload, current=current)
    if kind == "complete":  # the server ended it: it is stopping, or commander's stream ended
        typer.echo(f"The log stream from {current.context.server} ended; run the command again to go on.", err=True)
        return True
    return False


def _refused(error: Any, *, current: session.Session) -> None:
    text = str(error.get("message") if isinstance(error, dict) else error)
    if text == "AUTH_TOKEN_REFRESH_FAILED":
        raise client.TokenExpired(
            f"your token for {current.context.server} is no longer valid; log in again with "
            f"`airpool login {current.context.server}`"
        )
    raise AirpoolError(text)
