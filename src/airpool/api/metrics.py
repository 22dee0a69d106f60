"""Prometheus metrics served at ``/metrics``: what the services count plus what only the HTTP layer sees.

- The services keep their counters and histograms in prometheus_client's process-wide registry (claims refused
  because the pool was empty, claim-to-healthy and release durations: ``services.metrics``).
- Each app has its own registry for request latency and for the pool gauge (namespaces per state, read from the
  database at scrape time by the services' ``PoolCollector``), so tests can run several apps in one process.

``/metrics`` renders both registries, one after the other (their metric names do not overlap).
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest

from airpool.services import metrics as service_metrics
from airpool.services.platform import Platform

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, *, platform: Platform) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "airpool_http_request_duration_seconds",
            "HTTP request latency by route, method and status class.",
            labelnames=["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(service_metrics.PoolCollector(platform))

    def observe_request(self, *, route: str, method: str, status: int, seconds: float) -> None:
        self.request_seconds.labels(route=route, method=method, status=f"{status // 100}xx").observe(seconds)

    def render(self) -> bytes:
        """Blocking (the pool gauge queries the database): call it from a worker thread."""
        return generate_latest(REGISTRY) + generate_latest(self.registry)
