"""The pool health pass: every offered or misconfigured pool namespace, checked in parallel, recorded at once.

A pass reads the plan (one query), checks the namespaces on a bounded thread pool (``health.check_many``) and
records every verdict in one transaction that writes only what changed. How deep each namespace is checked:

- not offered yet (``misconfigured``: new, returning, or found broken): the full check, leftovers included;
- offered (``available``): existence and access every pass, and the search for a former Deployment's objects
  round-robin, ``1 / deep_share`` of them per pass, so each is searched every ``deep_share`` passes.

The pass runs in its own thread (``Worker.run`` starts it), so it never holds up install and uninstall jobs.
Its duration, the namespaces it checked and the API requests it made are exported as metrics.
"""

from __future__ import annotations

import logging
import threading

from lightkube import Client

from airpool.commander import health
from airpool.domain.pool import NamespaceState
from airpool.services import metrics, pool
from airpool.services.platform import Platform

log = logging.getLogger(__name__)

#: Each offered namespace is searched for a former Deployment's objects every this many passes.
DEEP_SHARE = 10


class PoolMonitor:
    def __init__(
        self,
        platform: Platform,
        client: Client,
        *,
        parallel: int = health.DEFAULT_PARALLEL,
        deep_share: int = DEEP_SHARE,
    ) -> None:
        self.platform = platform
        self.client = client
        self.parallel = parallel
        self.deep_share = max(deep_share, 1)
        self._passes = 0
        self._lock = threading.Lock()  # one pass at a time per monitor

    def targets(self) -> list[health.Target]:
        plan = pool.health_plan(self.platform)
        turn = self._passes % self.deep_share
        return [
            health.Target(t.name, leftovers=t.state is not NamespaceState.AVAILABLE or i % self.deep_share == turn)
            for i, t in enumerate(plan)
        ]

    def run_pass(self) -> health.PassResult:
        """One pass over the pool; returns what it found (the verdicts are already recorded)."""
        with self._lock:
            if self.platform.config.pool is None:
                return health.PassResult(verdicts=(), failed={}, api_calls=0, seconds=0.0)
            targets = self.targets()
            self._passes += 1
            result = health.check_many(self.client, targets, parallel=self.parallel)
            moved = pool.record_health_many(
                self.platform, ((v.namespace, v.ok, v.reason or "") for v in result.verdicts)
            )
        reasons = {v.namespace: v.reason or "" for v in result.verdicts}
        for name, state in sorted(moved.items()):
            where = {"namespace": name, "state": state.value, "reason": reasons[name]}
            log.info("pool namespace moved", extra={"kv": where})
        for name, error in sorted(result.failed.items()):
            log.warning("health check failed", extra={"kv": {"namespace": name, "error": error}})
        metrics.HEALTH_PASS_SECONDS.observe(result.seconds)
        metrics.HEALTH_API_CALLS.inc(result.api_calls)
        metrics.HEALTH_CHECKS.labels(result="ok").inc(sum(1 for v in result.verdicts if v.ok))
        metrics.HEALTH_CHECKS.labels(result="misconfigured").inc(sum(1 for v in result.verdicts if not v.ok))
        metrics.HEALTH_CHECKS.labels(result="error").inc(len(result.failed))
        log.info(
            "pool health pass",
            extra={
                "kv": {
                    "namespaces": len(targets),
                    "deep": sum(1 for t in targets if t.leftovers),
                    "moved": len(moved),
                    "errors": len(result.failed),
                    "api_calls": result.api_calls,
                    "seconds": round(result.seconds, 3),
                }
            },
        )
        return result
