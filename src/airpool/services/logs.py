"""Deployment logs for users, read by commander: the server never talks to Kubernetes (docs/commander.md, "Logs").

Each running commander serves a small HTTP endpoint (``commander/log_server.py``) and records where it is in the
database (``register``): its URL and a random secret. A server that needs logs checks the caller may read the
Deployment (viewer or more, ``access``), resolves the component, then asks the freshest registered commander
(the next one if it does not answer) with that secret. Commander reads the pods' logs with its own identity (the
pool Role's ``pods/log``) and answers newline-delimited JSON, one line each, streaming when following.

Why this path: the database is the one thing server and commander already share in every topology (``airpool
serve`` with its in-process commander, ``serve --workers N``, the Helm chart's separate commander Deployment), so
no address or secret has to be configured; a live tail goes server -> commander -> API server -> kubelet as one
chain of streams, so a new line reaches the user within the kubelet's own latency instead of a polling period.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from airpool.domain import logs as domain_logs
from airpool.domain.errors import InvalidInput
from airpool.domain.logs import LogLine, LogsUnavailable
from airpool.services import access
from airpool.services.access import Actor, Role
from airpool.services.deployments import _visible
from airpool.services.platform import Platform
from airpool.store import models

if TYPE_CHECKING:
    # imported where used: httpx imports its command line (rich, click, pygments), a tenth of a second of CPU at
    # every serve start, which needs it only when somebody reads logs
    import httpx

E = models.CommanderLogEndpoint

#: A commander refreshes its row this often ...
REFRESH_SECONDS = 15.0
#: ... and one not refreshed for this long is not asked (it stopped or died).
STALE_AFTER = timedelta(seconds=60)
#: Rows older than this are removed when a commander registers.
FORGET_AFTER = timedelta(minutes=10)
#: While following, commander sends an empty line at least this often, so both ends notice a dead peer.
KEEPALIVE_SECONDS = 10.0
#: The header commander checks.
SECRET_HEADER = "authorization"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


# --- commander's side ------------------------------------------------------------------------------------------------


def register(platform: Platform, *, endpoint_id: str, url: str, secret: str) -> None:
    """Record (or refresh) where this commander serves logs; forget long-gone ones."""
    now = platform.now()
    with platform.db.write() as s:
        row = s.get(E, endpoint_id)
        if row is None:
            s.add(E(id=endpoint_id, url=url, secret=secret, seen_at=now))
        else:
            row.url, row.secret, row.seen_at = url, secret, now
        s.execute(sa.delete(E).where(E.seen_at < now - FORGET_AFTER, E.id != endpoint_id))


def registered(platform: Platform) -> list[str]:
    """Every recorded commander, fresh or not (for tests and troubleshooting)."""
    with platform.db.read() as s:
        return list(s.scalars(sa.select(E.id).order_by(E.id)))


def unregister(platform: Platform, *, endpoint_id: str) -> None:
    with platform.db.write() as s:
        s.execute(sa.delete(E).where(E.id == endpoint_id))


@dataclass(frozen=True)
class Located:
    """What commander needs to find a Deployment component's pods."""

    deployment_id: str
    namespace: str
    component: str


def locate(platform: Platform, *, deployment_id: str, component: str) -> Located:
    """For commander: the live Deployment's namespace, and the component checked against it."""
    with platform.db.read() as s:
        dep = s.get(models.Deployment, deployment_id)
        if dep is None or dep.deleted_at is not None:
            raise access.deployment_not_found(deployment_id)
        label = domain_logs.resolve_component(component, airflow_version=dep.airflow_version, executor=dep.executor)
        return Located(deployment_id=dep.id, namespace=dep.namespace, component=label)


# --- the server's side -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogQuery:
    """A checked request: the caller may read this Deployment, and the component is one it has."""

    deployment_id: str
    release_name: str
    component: str
    since: datetime | None
    search: str | None
    limit: int

    def params(self, *, follow: bool) -> dict[str, str]:
        out = {"deployment": self.deployment_id, "component": self.component, "limit": str(self.limit)}
        if self.since is not None:
            out["since"] = self.since.isoformat()
        if self.search is not None:
            out["search"] = self.search
        if follow:
            out["follow"] = "1"
        return out


def check(
    platform: Platform,
    actor: Actor,
    deployment_id: str,
    *,
    component: str | None,
    since: datetime | None = None,
    search: str | None = None,
    limit: int | None = None,
) -> LogQuery:
    """Refuses what the caller may not read (NotFound/Forbidden as everywhere) and bad input, naming the field."""
    with platform.db.read() as s:
        dep = _visible(s, actor, deployment_id, Role.VIEWER)
        label = domain_logs.resolve_component(component, airflow_version=dep.airflow_version, executor=dep.executor)
        checked_id, release = dep.id, dep.release_name
    return LogQuery(
        deployment_id=checked_id,
        release_name=release,
        component=label,
        since=domain_logs.check_since(since, now=platform.now()),
        search=domain_logs.check_search(search),
        limit=domain_logs.check_limit(limit),
    )


def components_of(platform: Platform, actor: Actor, deployment_id: str) -> list[str]:
    """The components this Deployment has logs for (pod labels), for choosers."""
    with platform.db.read() as s:
        dep = _visible(s, actor, deployment_id, Role.VIEWER)
        return domain_logs.components(airflow_version=dep.airflow_version, executor=dep.executor)


def _endpoints(platform: Platform) -> list[tuple[str, str]]:
    now = platform.now()
    with platform.db.read() as s:
        rows = s.execute(sa.select(E.url, E.secret).where(E.seen_at >= now - STALE_AFTER).order_by(E.seen_at.desc()))
        return [(url, secret) for url, secret in rows]


NO_COMMANDER = (
    "no commander is running to read logs (commander serves them with its own Kubernetes identity). Run "
    "`airpool serve` without --no-commander, or `airpool commander`; in the Helm chart check the commander pods"
)


def parse_line(data: dict[str, Any]) -> LogLine:
    return LogLine(
        id=str(data["id"]),
        timestamp=datetime.fromisoformat(str(data["timestamp"])),
        component=str(data["component"]),
        pod=str(data["pod"]),
        container=str(data["container"]),
        message=str(data["message"]),
    )


def line_json(line: LogLine) -> str:
    return json.dumps(
        {
            "id": line.id,
            "timestamp": line.timestamp.isoformat(),
            "component": line.component,
            "pod": line.pod,
            "container": line.container,
            "message": line.message,
        }
    )


def _refusal(response: httpx.Response) -> str:
    try:
        body = json.loads(response.read())
        return str(body.get("error") or f"HTTP {response.status_code}")
    except (ValueError, AttributeError):
        return f"commander answered HTTP {response.status_code}"


@contextlib.contextmanager
def _ask(platform: Platform, query: LogQuery, *, follow: bool, path: str = "/logs") -> Iterator[httpx.Response]:
    """The first registered commander that answers; its streaming response (closed when the block ends)."""
    import httpx

    endpoints = _endpoints(platform)
    if not endpoints:
        raise LogsUnavailable(NO_COMMANDER)
    failures = []
    timeout = httpx.Timeout(10.0, read=KEEPALIVE_SECONDS * 6 if follow else 120.0)
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        for url, secret in endpoints:
            request = client.build_request(
                "GET",
                f"{url.rstrip('/')}{path}",
                params=query.params(follow=follow),
                headers={SECRET_HEADER: f"Bearer {secret}"},
            )
            try:
                response = client.send(request, stream=True)
            except httpx.TransportError as exc:
                failures.append(f"{url}: {exc or type(exc).__name__}")
                continue
            try:
                if response.status_code == 400:
                    raise InvalidInput(_refusal(response))
                if response.status_code != 200:
                    raise LogsUnavailable(f"commander could not read the logs: {_refusal(response)}")
                yield response
                return
            finally:
                response.close()
    raise LogsUnavailable(f"no commander answered ({'; '.join(failures)}); try again in a moment")


def read(platform: Platform, query: LogQuery) -> list[LogLine]:
    """The newest ``limit`` lines after ``since`` matching ``search``, oldest first."""
    import httpx

    try:
        with _ask(platform, query, follow=False) as response:
            return [parse_line(json.loads(raw)) for raw in response.iter_lines() if raw.strip()]
    except httpx.HTTPError as exc:
        raise LogsUnavailable(f"commander stopped answering while sending the logs: {exc}") from None


def why_none(platform: Platform, query: LogQuery) -> tuple[str, str]:
    """Why ``read`` found no lines, from what commander finds of the component's pods: ``(kind, reason)``
    (``domain.logs.why_no_lines``). The same access as ``read``: ``query`` comes from ``check``."""
    import httpx

    try:
        with _ask(platform, query, follow=False, path="/logs/pods") as response:
            found = [domain_logs.PodLog(**pod) for pod in json.loads(response.read())["pods"]]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise LogsUnavailable(f"commander could not say why there are no lines: {exc}") from None
    with platform.db.read() as s:
        dep = s.get(models.Deployment, query.deployment_id)
        if dep is None:
            raise access.deployment_not_found(query.deployment_id)
        namespace, executor = dep.namespace, dep.executor
    return domain_logs.why_no_lines(
        found,
        component=query.component,
        namespace=namespace,
        executor=executor,
        filtered=query.since is not None or query.search is not None,
    )


class LogStream:
    """New lines as commander reads them; iterate in one thread, ``close()`` from any other to stop at once.

    Yields ``None`` for each keep-alive (at least every ``KEEPALIVE_SECONDS``), so a consumer can check that it
    is still wanted; raises ``LogsUnavailable`` when commander goes away."""

    def __init__(self, platform: Platform, query: LogQuery) -> None:
        self._platform = platform
        self._query = query
        self._closed = False
        self._response: httpx.Response | None = None

    def __iter__(self) -> Iterator[LogLine | None]:
        import httpx

        try:
            with _ask(self._platform, self._query, follow=True) as response:
                self._response = response
                if self._closed:
                    return
                for raw in response.iter_lines():
                    yield parse_line(json.loads(raw)) if raw.strip() else None
        except (httpx.HTTPError, RuntimeError) as exc:
            if not self._closed:
                raise LogsUnavailable(f"the log stream from commander ended: {exc}") from None
        finally:
            self._response = None

    def close(self) -> None:
        self._closed = True
        response = self._response
        if response is not None:
            abort(response)


def abort(response: httpx.Response) -> None:
    """Close a stream another thread may be blocked reading: closing the socket alone does not wake a blocked
    ``recv`` on Linux, shutting it down does."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()


def follow(platform: Platform, query: LogQuery) -> LogStream:
    return LogStream(platform, query)
