"""Watches on the pool's namespaces, so the health pass learns within seconds what changed and skips what did not.

What can make an offered namespace unfit changes through a few kinds of object: commander's Role and RoleBinding
in it (access) and the Namespace itself (deleted, terminating). ``PoolWatch`` keeps a Kubernetes watch on each and
turns every event into a *dirty* namespace; the pool monitor checks dirty namespaces
at once (``PoolMonitor.run_changes``) and, in its periodic pass, skips an offered namespace whose watches ran
without a break since its last check (a share of them is still re-checked every pass, round-robin, for what no
watch shows: a ClusterRole edited behind a RoleBinding, another authorizer).

Which watches, with commander's own identity:

- where commander may list and watch a kind in every namespace (a ClusterRole an admin chose to grant), one
  cluster-wide watch of that kind, filtered to the pool's names;
- otherwise one watch per pool namespace and kind, which the pool's Role allows (``list``/``watch`` on roles and
  rolebindings). The Namespace object itself cannot be watched with a namespaced Role; deleting a namespace deletes
  commander's Role and RoleBinding in it, whose events (and the watch's end once the binding is gone) mark it dirty.
  ResourceQuotas are not watched: nothing in the verdict reads them.

Thousands of watches are cheap for the API server (its watch cache serves them) but not as threads: they all run on
one asyncio loop in a thread of their own. Each is a long-lived HTTP/1.1 request on its own connection (HTTP/2
would multiplex them, but httpcore's HTTP/2 starves idle streams of their events: measured, a change went unseen),
at most ``STREAMS_PER_CLIENT`` per client (httpx's connection limit), and at most ``MAX_STREAMS`` in all; the
namespaces beyond (a pool of more than 2,000 without a cluster-wide grant) are checked every pass, as without
watches. Every watch starts from one resource version read when its namespace is added, before that namespace's
next check, so no change between the check and the watch is lost; a watch that breaks marks its namespaces dirty
and resumes from the last version it saw (from scratch when that is too old: its namespaces are checked again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient
from lightkube.core.generic_client import ALL_NS
from lightkube.resources.core_v1 import Namespace
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from lightkube.types import OnErrorAction, OnErrorResult
from prometheus_client import Counter, Gauge

from airpool.commander import errors

log = logging.getLogger(__name__)

#: Namespaced kinds watched in every pool namespace: what decides commander's access.
NAMESPACED: tuple[tuple[type[Any], str, str], ...] = (
    (Role, "roles", "rbac.authorization.k8s.io"),
    (RoleBinding, "rolebindings", "rbac.authorization.k8s.io"),
)

#: Every kind commander watches cluster-wide when it may: the namespaced ones and the Namespace itself.
CLUSTER_WIDE_CANDIDATES: tuple[tuple[type[Any], str, str], ...] = (*NAMESPACED, (Namespace, "namespaces", ""))

#: Watches per client: httpx opens at most 100 connections per client, one per running watch.
STREAMS_PER_CLIENT = 100
#: Watches in all (open connections to the API server): per-namespace watches cover the first 2,000 namespaces.
MAX_STREAMS = 4000

WATCH_STREAMS = Gauge(
    "airpool_pool_watch_streams",
    "Kubernetes watches commander keeps open on pool namespaces (cluster-wide ones count once).",
)
WATCH_EVENTS = Counter(
    "airpool_pool_watch_events",
    "Changes seen by commander's pool watches (each marks its namespace for a check).",
)
WATCH_ERRORS = Counter(
    "airpool_pool_watch_errors",
    "Pool watches that broke (the namespace deleted, its RoleBinding removed, the API server restarting...).",
)


@dataclass(frozen=True)
class _Key:
    kind: type[Any]
    #: ``None``: a cluster-wide watch of the kind.
    namespace: str | None


class _Conn:
    def __init__(self, config: Any) -> None:
        # A generous connect timeout: thousands of watches connect at once when commander starts, and a loaded API
        # server takes its time; a watch that gave up would only mark its namespace for a check and try again.
        self.client = AsyncClient(config=config, trust_env=False, timeout=httpx2.Timeout(60.0))
        self.streams = 0


class PoolWatch:
    """Watches every pool namespace it is given (``set_names``); ``take_dirty`` says which changed since."""

    def __init__(self, config: Any, *, cluster_wide: Iterable[type[Any]] = (), backoff_max: float = 60.0) -> None:
        #: lightkube's ``SingleConfig`` of commander's client.
        self._config = config
        self._cluster_wide = frozenset(cluster_wide)
        self._backoff_max = backoff_max
        self._lock = threading.Lock()
        self._dirty: set[str] = set()
        #: name -> monotonic time from which its watches have run unbroken (absent: not covered).
        self._since: dict[str, float] = {}
        self._names: frozenset[str] = frozenset()
        self.changed = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._tasks: dict[_Key, asyncio.Task[None]] = {}
        self._conns: list[_Conn] = []
        self._conn_of: dict[_Key, _Conn] = {}
        self._reader: _Conn | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="pool-watch", daemon=True)
        self._thread.start()

    # --- what the monitor asks -----------------------------------------------------------------------------------

    def set_names(self, names: Iterable[str], *, timeout: float = 30.0) -> None:
        """Watch exactly these namespaces. Returns once the new ones' watches have their starting version, so a
        check that starts after this call sees every later change as an event."""
        wanted = frozenset(names)
        future = asyncio.run_coroutine_threadsafe(self._set_names(wanted), self._loop)
        try:
            future.result(timeout)
        except Exception:  # the API server slow or away: the new names stay uncovered and are checked every pass
            log.warning("pool watch: could not start every watch", exc_info=True)

    def take_dirty(self) -> set[str]:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            self.changed.clear()
            return dirty

    def covered_since(self, name: str) -> float | None:
        """Since when every watch of ``name`` has run unbroken (monotonic); None when it is not covered."""
        with self._lock:
            return self._since.get(name)

    def stop(self) -> None:
        if not self._loop.is_running():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def streams(self) -> int:
        return len(self._tasks)

    # --- on the loop -------------------------------------------------------------------------------------------

    def _mark(self, names: Iterable[str], *, broken: bool = False) -> None:
        with self._lock:
            before = len(self._dirty)
            for name in names:
                if name in self._names:
                    self._dirty.add(name)
                    if broken:
                        self._since.pop(name, None)
            if len(self._dirty) != before:
                self.changed.set()

    def _conn_for(self, key: _Key) -> _Conn:
        conn = next((c for c in self._conns if c.streams < STREAMS_PER_CLIENT), None)
        if conn is None:
            conn = _Conn(self._config)
            self._conns.append(conn)
        conn.streams += 1
        self._conn_of[key] = conn
        return conn

    def _keys(self, names: frozenset[str]) -> set[_Key]:
        keys = {_Key(kind, None) for kind in self._cluster_wide}
        per_namespace = [kind for kind, _, _ in NAMESPACED if kind not in self._cluster_wide]
        if per_namespace:
            room = max(MAX_STREAMS - len(keys), 0) // len(per_namespace)
            for name in sorted(names)[:room]:
                keys.update(_Key(kind, name) for kind in per_namespace)
        return keys

    async def _set_names(self, wanted: frozenset[str]) -> None:
        added = wanted - self._names
        with self._lock:
            self._names = wanted
            for name in set(self._since) - wanted:
                del self._since[name]
            self._dirty &= wanted
        keys = self._keys(wanted) if wanted else set()
        for key in set(self._tasks) - keys:
            self._tasks.pop(key).cancel()
            self._conn_of.pop(key).streams -= 1
        new = keys - set(self._tasks)
        if new:
            started = time.monotonic()
            version = await self._current_version(sorted(added) or sorted(wanted))
            for key in new:
                self._tasks[key] = self._loop.create_task(self._run(key, version))
            running = set(self._tasks)
            with self._lock:
                for name in added:
                    if self._keys(frozenset([name])) <= running:
                        self._since[name] = started
        WATCH_STREAMS.set(len(self._tasks))

    async def _current_version(self, names: list[str]) -> str | None:
        """The API server's resource version now (one small list), from which new watches start. Asked on a client
        of its own: the watches' clients have every connection taken by a watch that never ends."""
        if self._reader is None:
            self._reader = _Conn(self._config)
        client = self._reader.client
        for name in names[:5]:
            try:
                listed = client.list(Role, namespace=name, chunk_size=1)
                async for _ in listed:
                    break
                return str(listed.resourceVersion)
            except Exception:  # commander cannot list there (a misconfigured namespace): try another
                continue
        return None  # watches start from scratch: their first events mark every namespace for a check

    async def _run(self, key: _Key, version: str | None) -> None:
        conn = self._conn_for(key)
        failures = 0
        while True:
            answered = False

            def after_answer(_exc: Exception, _count: int) -> OnErrorResult:
                # lightkube asks only about an error after the API server's answer began (a status, a broken stream)
                nonlocal answered
                answered = True
                return OnErrorResult(OnErrorAction.RAISE)

            try:
                kwargs: dict[str, Any] = {"namespace": key.namespace or ALL_NS} if key.kind is not Namespace else {}
                watched = conn.client.watch(key.kind, resource_version=version, on_error=after_answer, **kwargs)
                async for _, obj in watched:
                    version = obj.metadata.resourceVersion or version
                    failures = 0
                    WATCH_EVENTS.inc()
                    name = obj.metadata.name if key.kind is Namespace else obj.metadata.namespace
                    self._mark([name])
                # lightkube resumes a watch the server ended cleanly by itself; getting here is unexpected
                raise RuntimeError("watch ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                WATCH_ERRORS.inc()
                if _says_unreachable(exc, answered=answered):
                    errors.note_unreachable()  # a restarting API server: its refusals are doubted for a while
                if isinstance(exc, ApiError) and exc.status.code == 410:
                    version = None  # too old to resume: start from scratch (its first events mark every namespace)
                names = [key.namespace] if key.namespace else sorted(self._names)
                self._mark(names, broken=True)
                log.debug("pool watch broke", extra={"kv": {"kind": key.kind.__name__, "namespace": key.namespace}})
                await asyncio.sleep(min(self._backoff_max, 0.5 * 2 ** min(failures, 8)))
                # Resumed from the last version seen (or from scratch, whose first events mark them again): covered
                # from now on, once their check (they are dirty) has run after this moment.
                with self._lock:
                    for name in names:
                        if name in self._names and self._keys(frozenset([name])) <= set(self._tasks):
                            self._since.setdefault(name, time.monotonic())

    async def _close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        for conn in [*self._conns, *([self._reader] if self._reader else [])]:
            with contextlib.suppress(Exception):
                await conn.client.close()
        self._conns.clear()
        self._reader = None
        WATCH_STREAMS.set(0)


def _says_unreachable(exc: BaseException, *, answered: bool) -> bool:
    """Whether a broken watch is evidence of an unreachable API server (``errors.note_unreachable``): its request got
    no answer (connection refused or reset, a timeout), or the answer was 500, 502 or 503.

    Not evidence: a stream that broke after the API server had answered (a load balancer or proxy closing a quiet
    connection does that every few minutes or seconds, kubeadm's HAProxy example after 20 s; each break noted would keep
    every refusal in doubt for good, so a namespace whose access was removed would never be judged), nor a 504 (the
    watch cache behind the version asked for: the API server answered). A restarting API server still counts: the
    watch's next request, a second later, finds it gone."""
    if isinstance(exc, httpx2.TransportError):
        return not answered
    return isinstance(exc, ApiError) and int(exc.status.code or 0) in (500, 502, 503)
