"""Liveness, readiness and metrics: the routes an orchestrator and Prometheus poll.

``/healthz`` only says the process answers (a restart would not fix a database outage, so liveness ignores it);
``/readyz`` says whether this replica should get traffic: the database answers and its schema is the one this
airpool needs. Both are cheap enough to poll every few seconds.
"""

from __future__ import annotations

import logging

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import airpool
from airpool.api.context import AppState
from airpool.api.metrics import CONTENT_TYPE, Metrics
from airpool.services import schema

log = logging.getLogger("airpool.api.health")


def routes(*, state: AppState, metrics: Metrics) -> list[Route]:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "version": airpool.__version__})

    async def readyz(_: Request) -> Response:
        try:
            found = await anyio.to_thread.run_sync(schema.check, state.platform.db.url)
        except Exception as exc:  # any failure to reach the database means "not ready", with the reason
            log.warning("readyz: database unreachable", exc_info=True)
            reason = f"database unreachable: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        if found.status is not schema.SchemaStatus.CURRENT:
            return JSONResponse({"status": "unavailable", "reason": found.message}, status_code=503)
        return JSONResponse({"status": "ready", "schema": found.head})

    async def metrics_endpoint(_: Request) -> Response:
        body = await anyio.to_thread.run_sync(metrics.render)
        return Response(body, media_type=CONTENT_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
