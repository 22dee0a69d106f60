"""Prometheus collectors the services feed; the API exposes them at ``/metrics``.

Counters and histograms live in the default registry (one process, one set). Pool namespaces per state are not
kept in a gauge that could drift: ``PoolCollector`` asks the database at scrape time (one GROUP BY query).
Register it once per process with ``prometheus_client.REGISTRY.register(metrics.PoolCollector(platform))``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from airpool.services.platform import Platform

_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)

CLAIMS_REFUSED = Counter(
    "airpool_pool_claims_refused",
    "Deployment creations refused because no pool namespace was available.",
)
CLAIM_TO_HEALTHY = Histogram(
    "airpool_claim_to_healthy_seconds",
    "From the namespace claim (Deployment created) to the Deployment first reported healthy.",
    buckets=_DURATION_BUCKETS,
)
RELEASE_DURATION = Histogram(
    "airpool_namespace_release_seconds",
    "From a delete request to the namespace being clean (available again, or retained after a soft delete).",
    buckets=_DURATION_BUCKETS,
)

HEALTH_PASS_SECONDS = Histogram(
    "airpool_pool_health_pass_seconds",
    "Duration of one commander pool health check: a periodic pass (kind=pass) over the offered and misconfigured "
    "namespaces not known unchanged, or a check of what the watches saw change (kind=changes).",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
HEALTH_API_CALLS = Counter(
    "airpool_pool_health_api_requests",
    "Kubernetes API requests made by commander's pool health checks (their cost).",
)
HEALTH_PASS_REQUESTS = Histogram(
    "airpool_pool_health_pass_requests",
    "Kubernetes API requests of one commander pool health check (its cost), by kind as in "
    "airpool_pool_health_pass_seconds.",
    ["kind"],
    buckets=(0, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000),
)
HEALTH_PASS_NAMESPACES = Histogram(
    "airpool_pool_health_pass_namespaces",
    "Pool namespaces one commander pool health check looked at, by kind as in airpool_pool_health_pass_seconds.",
    ["kind"],
    buckets=(0, 1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
HEALTH_PASS_RUNNING = Gauge(
    "airpool_pool_health_pass_running",
    "1 while this process's commander runs a periodic pool health pass, else 0.",
)
HEALTH_CHECKS = Counter(
    "airpool_pool_health_checks",
    "Pool namespaces checked by commander, by verdict (ok, misconfigured, error: the check could not finish).",
    ["result"],
)


class PoolCollector(Collector):
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from airpool.services import pool

        family = GaugeMetricFamily("airpool_pool_namespaces", "Pool namespaces per state.", labels=["state"])
        for state, count in pool.counts(self._platform).by_state.items():
            family.add_metric([state.value], count)
        yield family
