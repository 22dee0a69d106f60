"""Read a Deployment component's logs from Kubernetes, with commander's identity (the pool Role's ``pods/log``).

A component is every pod labelled ``airpool.io/deployment=<id>`` and ``component=<label>`` in the Deployment's
namespace (two Celery workers are two pods; the KubernetesExecutor's task pods are ``worker`` too), and in each
pod the container named after the component (task pods: ``base``; otherwise the first container).

``read``: the newest ``limit`` lines after ``since`` that contain ``search`` (case-insensitive), oldest first,
across the pods (merged by the runtime's timestamps). Without a search each container is asked for its last
``limit`` lines only; with one, for its last ``SEARCH_WINDOW`` lines, which are then filtered -- the kubelet has no
search, so older matches than that window are not found (said in docs/api.md).

``follow``: the new lines of every pod as they come (one streaming request per container, each in a thread),
starting after ``since`` (or now). Pods are listed again every ``relist_seconds``, so a pod that starts later (a
worker scaled up, a pod replaced) joins the stream and a restarted container is followed again from the last line
seen. ``stop`` ends it within a moment: every open stream is closed, which wakes the threads reading them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
from lightkube import ApiError, Client
from lightkube.resources.core_v1 import Pod

from airpool.domain.logs import LogLine, PodLog
from airpool.kube import podlogs
from airpool.manifests.airflow import common

log = logging.getLogger(__name__)

#: With a search, how many of each container's newest lines are searched.
SEARCH_WINDOW = 50_000


@dataclass(frozen=True)
class Target:
    pod: str
    container: str


@dataclass(frozen=True)
class Where:
    """A Deployment component: where its pods are and how they are labelled."""

    namespace: str
    deployment_id: str
    component: str


def pods(client: Client, where: Where) -> list[PodLog]:
    """The component's pods and whether each has a log to read (by name)."""
    selector: dict[str, Any] = {common.DEPLOYMENT_LABEL: where.deployment_id, common.COMPONENT_LABEL: where.component}
    out = []
    for pod in client.list(Pod, namespace=where.namespace, labels=selector):
        name = pod.metadata.name if pod.metadata else None
        containers = [c.name for c in (pod.spec.containers if pod.spec else [])]
        if not name or not containers:
            continue
        container = next((c for c in (where.component, "base") if c in containers), containers[0])
        statuses = {s.name: s for s in (pod.status.containerStatuses or [])} if pod.status else {}
        status = statuses.get(container)
        state = status.state if status is not None else None
        started = state is not None and (state.running is not None or state.terminated is not None)
        restarted = status is not None and (status.restartCount or 0) > 0
        waiting = state.waiting.reason if state is not None and state.waiting is not None else None
        out.append(
            PodLog(
                pod=name,
                container=container,
                phase=(pod.status.phase if pod.status else None) or "Pending",
                started=started or restarted,
                # a kubelet names the container it started (containerd://...); kwok's fake nodes name none
                simulated=(started or restarted) and not (status is not None and status.containerID),
                waiting=waiting or "",
            )
        )
    return sorted(out, key=lambda p: p.pod)


def targets(client: Client, where: Where) -> list[Target]:
    """The containers to read, skipping pods whose container has not started yet (no log to read)."""
    return [Target(pod=p.pod, container=p.container) for p in pods(client, where) if p.started]


def _line(where: Where, target: Target, raw: str) -> LogLine | None:
    parts = podlogs.split_timestamp(raw.rstrip("\r\n"))
    if parts is None:
        return None
    when, text = parts
    digest = hashlib.sha1(f"{target.pod}/{target.container}/{raw}".encode(), usedforsecurity=False).hexdigest()
    return LogLine(
        id=digest[:20],
        timestamp=when,
        component=where.component,
        pod=target.pod,
        container=target.container,
        message=text,
    )


def matches(line: LogLine, *, since: datetime | None, search: str | None) -> bool:
    if since is not None and line.timestamp <= since:
        return False
    return search is None or search.casefold() in line.message.casefold()


def read(client: Client, where: Where, *, since: datetime | None, search: str | None, limit: int) -> list[LogLine]:
    found: list[LogLine] = []
    for target in targets(client, where):
        try:
            response = podlogs.open_log(
                client,
                namespace=where.namespace,
                pod=target.pod,
                container=target.container,
                since=since,
                tail_lines=SEARCH_WINDOW if search else limit,
            )
        except podlogs.LogUnavailable as exc:
            if exc.status in (400, 404):  # the pod went away or its container is between restarts
                log.info("log not readable", extra={"kv": {"pod": target.pod, "reason": exc.message}})
                continue
            raise
        try:
            mine = [line for raw in response.iter_lines() if (line := _line(where, target, raw)) is not None]
        finally:
            response.close()
        found.extend(line for line in mine if matches(line, since=since, search=search))
    found.sort(key=lambda line: (line.timestamp, line.pod))
    return found[-limit:] if limit else found


class Follower:
    """Streams a component's new lines to ``emit`` until ``stop()`` (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        where: Where,
        *,
        since: datetime | None,
        search: str | None,
        emit: Callable[[LogLine], None],
        relist_seconds: float = 3.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.client = client
        self.where = where
        self.search = search
        self.emit = emit
        self.relist_seconds = relist_seconds
        self._start = since or (now or (lambda: datetime.now(UTC)))()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._emit_lock = threading.Lock()
        self._open: dict[Target, httpx2.Response] = {}
        self._running: set[Target] = set()
        self._last: dict[Target, datetime] = {}
        self._threads: list[threading.Thread] = []

    def run(self) -> None:
        """Blocks until ``stop()``; lists pods, follows each new container, lists again."""
        while not self._stopped.is_set():
            try:
                current = targets(self.client, self.where)
            except (ApiError, httpx2.TransportError) as exc:
                log.warning("cannot list pods to follow", extra={"kv": {"reason": str(exc)}})
                current = []
            for target in current:
                with self._lock:
                    if target in self._running or self._stopped.is_set():
                        continue
                    self._running.add(target)
                thread = threading.Thread(target=self._follow, args=(target,), name=f"log-{target.pod}", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._stopped.wait(self.relist_seconds)
        for thread in self._threads:
            thread.join(timeout=5)

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            streams = list(self._open.values())
        for response in streams:
            podlogs.abort(response)

    def _follow(self, target: Target) -> None:
        after = self._last.get(target, self._start)
        try:
            response = podlogs.open_log(
                self.client,
                namespace=self.where.namespace,
                pod=target.pod,
                container=target.container,
                follow=True,
                since=after,
            )
        except podlogs.LogUnavailable as exc:
            log.info("cannot follow log", extra={"kv": {"pod": target.pod, "reason": exc.message}})
            with self._lock:
                self._running.discard(target)
            return
        with self._lock:
            if self._stopped.is_set():
                response.close()
                return
            self._open[target] = response
        try:
            for raw in response.iter_lines():
                line = _line(self.where, target, raw)
                if line is None or not matches(line, since=after, search=self.search):
                    continue
                self._last[target] = after = line.timestamp
                with self._emit_lock:
                    self.emit(line)
        except (httpx2.HTTPError, OSError, ValueError, RuntimeError):
            pass  # closed by stop(), or the API server went away: the next listing starts it again
        finally:
            response.close()
            with self._lock:
                self._open.pop(target, None)
                self._running.discard(target)
