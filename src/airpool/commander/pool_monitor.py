"""The pool health pass: every offered or misconfigured pool namespace, checked in parallel, recorded at once.

A pass reads the plan (one query), checks the namespaces on a bounded thread pool (``health.check_many``) and
records the verdicts as they come, a hundred (or two seconds' worth) per transaction that writes only what changed:
the first pass over a thousand new namespaces offers the first hundred long before it ends. How deep each namespace
is checked:

- not offered yet (``misconfigured``: new, returning, or found broken): the full check, leftovers included;
- offered (``available``): existence and access every pass, and the search for a former Deployment's objects
  round-robin, ``1 / leftover_share`` of them per pass, so each is searched every ``leftover_share`` passes (an
  hour at the default interval). The search is 17 of a full check's 19 requests, and it looks for what nothing of
  airpool puts into a namespace it does not hold: an offered namespace was verified clean when it became
  available (by this check, or by commander's uninstall, which waits until every labelled object is gone).

With watches (``run``, ``pool_watch``), an offered namespace whose watches ran unbroken since its last check is
skipped by the pass unless it is in one of its round-robin turns: ``1 / deep_share`` of them per pass get
existence and access checked again (what no watch shows: a ClusterRole edited behind a RoleBinding, another
authorizer), and the leftover share its search. The pass re-reads only what may have changed. A change the
watches see is checked at once (``run_changes``), within seconds.

The monitor runs in its own thread (``Worker.run`` starts it) with its own Kubernetes connections for the
watches, so it never holds up install and uninstall jobs. Every pass's duration, the namespaces it checked and the
API requests it made are exported as metrics (``kind`` = ``pass`` or ``changes``).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence

from lightkube import Client

from airpool.commander import health, pool_watch, preflight
from airpool.domain.pool import NamespaceState
from airpool.services import metrics, pool
from airpool.services.platform import Platform

log = logging.getLogger(__name__)

#: A namespace a watch saw change is checked at once and once more this many seconds later: the API server's
#: authorizer learns an RBAC change a moment after the write its watch reports.
SETTLE_SECONDS = 3.0

#: More namespaces than this moved in one batch of verdicts are logged as one line (counts, the first names).
MOVES_LOGGED_ONE_BY_ONE = 10

#: With watches, each offered namespace's existence and access are checked again every this many passes.
DEEP_SHARE = 10
#: Each offered namespace is searched for a former Deployment's objects every this many passes.
LEFTOVER_SHARE = 60


class PoolMonitor:
    def __init__(
        self,
        platform: Platform,
        client: Client,
        *,
        parallel: int = health.DEFAULT_PARALLEL,
        deep_share: int = DEEP_SHARE,
        leftover_share: int = LEFTOVER_SHARE,
    ) -> None:
        self.platform = platform
        self.client = client
        self.parallel = parallel
        self.deep_share = max(deep_share, 1)
        self.leftover_share = max(leftover_share, 1)
        self.watch: pool_watch.PoolWatch | None = None
        self._passes = 0
        #: Periodic passes whose verdicts are recorded (or that failed).
        self.passes_done = 0
        self._lock = threading.Lock()  # one pass at a time per monitor
        #: name -> monotonic start of the pass that last checked it (a verdict was recorded).
        self._checked_at: dict[str, float] = {}
        #: name -> when to check it once more after a change (``SETTLE_SECONDS``).
        self._settle: dict[str, float] = {}
        #: Set when commander stops (``run``'s event): a pass under way starts no further check.
        self._stop = threading.Event()

    # --- watches -------------------------------------------------------------------------------------------------

    def start_watch(self) -> pool_watch.PoolWatch:
        """Watch the pool (cluster-wide for each kind commander may watch everywhere, else per namespace)."""
        if self.watch is None:
            everywhere = [
                kind
                for kind, resource, group in pool_watch.CLUSTER_WIDE_CANDIDATES
                if all(preflight.access_allowed(self.client, v, resource, "", group, None) for v in ("list", "watch"))
            ]
            self.watch = pool_watch.PoolWatch(self.client.config, cluster_wide=everywhere)
            log.info(
                "pool watch started",
                extra={"kv": {"cluster_wide": ",".join(sorted(k.__name__ for k in everywhere)) or "none"}},
            )
        return self.watch

    def stop_watch(self) -> None:
        if self.watch is not None:
            self.watch.stop()
            self.watch = None

    def run(self, stop: threading.Event, *, interval: float, debounce: float = 0.2) -> None:
        """Until ``stop``: a pass at once and every ``interval`` seconds (from the end of one to the start of the
        next, so passes never pile up), and in between a check of whatever the watches saw change. ``stop`` also ends
        a pass under way: the checks running finish and are recorded, the rest keep their state until the next pass."""
        self._stop = stop
        try:
            next_pass = time.monotonic()
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_pass:
                    if self.watch is None and self.platform.config.pool is not None:
                        self._guarded(self.start_watch)  # at start, and again while it could not start
                    self._guarded(self.run_pass)
                    next_pass = time.monotonic() + interval
                    continue
                due = [name for name, at in self._settle.items() if at <= now]
                if due:
                    for name in due:
                        del self._settle[name]
                    self._guarded(functools.partial(self.run_changes, set(due), settle=False))
                    continue
                wait = min(0.5, next_pass - now)
                if self.watch is not None and self.watch.changed.wait(wait):
                    stop.wait(debounce)  # let a burst (a namespace's deletion) arrive as one check
                    self._guarded(self.run_changes)
                elif self.watch is None:
                    stop.wait(wait)
        finally:
            self.stop_watch()

    @staticmethod
    def _guarded(step: Callable[[], object]) -> None:
        try:
            step()
        except Exception:  # a database or API hiccup: the next pass tries again
            log.exception("pool health pass failed")

    def _watched(self, name: str) -> bool:
        """Whether ``name``'s watches have run unbroken since before its last check."""
        since = self.watch.covered_since(name) if self.watch is not None else None
        checked = self._checked_at.get(name)
        return since is not None and checked is not None and checked > since

    # --- passes --------------------------------------------------------------------------------------------------

    def targets(self) -> list[health.Target]:
        plan = pool.health_plan(self.platform)
        dirty: set[str] = set()
        if self.watch is not None:
            self.watch.set_names(t.name for t in plan)
            dirty = self.watch.take_dirty()
        access_turn = self._passes % self.deep_share
        leftover_turn = self._passes % self.leftover_share
        targets = []
        for i, t in enumerate(plan):
            offered = t.state is NamespaceState.AVAILABLE
            search = not offered or i % self.leftover_share == leftover_turn
            in_turn = search or i % self.deep_share == access_turn
            if offered and not in_turn and t.name not in dirty and self._watched(t.name):
                continue  # its watches saw no change since its last check
            targets.append(health.Target(t.name, leftovers=search))
        return targets

    def run_pass(self) -> health.PassResult:
        """One pass over the pool; returns what it found (the verdicts are already recorded)."""
        with self._lock:
            if self.platform.config.pool is None:
                return health.PassResult(verdicts=(), failed={}, api_calls=0, seconds=0.0)
            targets = self.targets()
            started = time.monotonic()  # after the watches of new names got their starting version
            self._passes += 1
            metrics.HEALTH_PASS_RUNNING.set(1)
            try:
                return self._check(targets, started=started, kind="pass")
            finally:
                self.passes_done += 1
                metrics.HEALTH_PASS_RUNNING.set(0)

    @property
    def passes_started(self) -> int:
        """Periodic passes started; one is running while this exceeds ``passes_done``."""
        return self._passes

    def run_changes(self, names: set[str] | None = None, *, settle: bool = True) -> health.PassResult | None:
        """Check ``names`` (default: what the watches saw change); None when there is nothing to check. With
        ``settle`` each is checked once more ``SETTLE_SECONDS`` later (by ``run``)."""
        with self._lock:
            if self.platform.config.pool is None:
                return None
            started = time.monotonic()
            if names is None:
                names = self.watch.take_dirty() if self.watch is not None else set()
            if not names:
                return None
            targets = [
                health.Target(t.name, leftovers=t.state is not NamespaceState.AVAILABLE)
                for t in pool.health_plan(self.platform)
                if t.name in names
            ]
            if settle:
                self._settle.update((t.namespace, started + SETTLE_SECONDS) for t in targets)
            return self._check(targets, started=started, kind="changes")

    def _check(self, targets: Sequence[health.Target], *, started: float, kind: str) -> health.PassResult:
        moved: dict[str, NamespaceState] = {}

        def record(verdicts: Sequence[health.PoolHealth]) -> None:
            """Verdicts as they come (every hundred, or two seconds), each batch in one transaction."""
            now_moved = pool.record_health_many(self.platform, ((v.namespace, v.ok, v.reason or "") for v in verdicts))
            for verdict in verdicts:
                self._checked_at[verdict.namespace] = started
            reasons = {v.namespace: v.reason or "" for v in verdicts}
            if len(now_moved) <= MOVES_LOGGED_ONE_BY_ONE:
                for name, state in sorted(now_moved.items()):
                    where = {"namespace": name, "state": state.value, "reason": reasons[name]}
                    log.info("pool namespace moved", extra={"kv": where})
            else:  # a first pass over thousands of new names: one line per batch, not one per name
                log.info("pool namespaces moved", extra={"kv": _moves_summary(now_moved, reasons)})
            moved.update(now_moved)

        result = health.check_many(self.client, targets, parallel=self.parallel, on_verdicts=record, stop=self._stop)
        for name, error in sorted(result.failed.items()):
            log.warning("health check failed", extra={"kv": {"namespace": name, "error": error}})
        metrics.HEALTH_PASS_SECONDS.labels(kind=kind).observe(result.seconds)
        metrics.HEALTH_API_CALLS.inc(result.api_calls)
        metrics.HEALTH_PASS_REQUESTS.labels(kind=kind).observe(result.api_calls)
        metrics.HEALTH_PASS_NAMESPACES.labels(kind=kind).observe(len(targets))
        metrics.HEALTH_CHECKS.labels(result="ok").inc(sum(1 for v in result.verdicts if v.ok))
        metrics.HEALTH_CHECKS.labels(result="misconfigured").inc(sum(1 for v in result.verdicts if not v.ok))
        metrics.HEALTH_CHECKS.labels(result="error").inc(len(result.failed))
        checked = len(result.verdicts) + len(result.failed)
        if checked < len(targets):  # commander is stopping: the rest wait for the next pass
            log.info(
                "pool health pass stopped early: commander is stopping",
                extra={"kv": {"namespaces": len(targets), "checked": checked, "seconds": round(result.seconds, 3)}},
            )
        elif kind == "pass" or moved or result.failed:
            log.info(
                "pool health pass" if kind == "pass" else "pool changes checked",
                extra={
                    "kv": {
                        "namespaces": len(targets),
                        "deep": sum(1 for t in targets if t.leftovers),
                        "moved": len(moved),
                        "errors": len(result.failed),
                        "api_calls": result.api_calls,
                        "seconds": round(result.seconds, 3),
                        "watched": self.watch.streams if self.watch is not None else 0,
                    }
                },
            )
        return result


def _moves_summary(moved: dict[str, NamespaceState], reasons: dict[str, str]) -> dict[str, object]:
    """One log line's fields for many moves: how many went to each state, the first names, and the reasons of the
    namespaces found misconfigured (each distinct reason once, with how many share it)."""
    counts: dict[str, int] = {}
    for state in moved.values():
        counts[state.value] = counts.get(state.value, 0) + 1
    names = sorted(moved)
    why: dict[str, int] = {}
    for name in names:
        if moved[name] is NamespaceState.MISCONFIGURED:
            why[reasons[name]] = why.get(reasons[name], 0) + 1
    summary: dict[str, object] = {"moved": len(moved)}
    summary.update((f"to_{state}", count) for state, count in sorted(counts.items()))
    summary["first"] = ",".join(names[:MOVES_LOGGED_ONE_BY_ONE])
    if why:
        commonest = sorted(why.items(), key=lambda kv: -kv[1])[:5]
        summary["reasons"] = "; ".join(f"{count}x {reason}" for reason, count in commonest)
    return summary
