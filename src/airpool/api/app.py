"""The server's one ASGI app: GraphQL at ``/v1``, health and metrics, and the web UI, all on one port.

``create_app`` is the factory; it builds no global state, so tests can run several apps (even on different
databases) in one process. Background work that lives as long as the app (the commander worker, the scheduled
cleanup) is handed in as ``background`` tasks: started when the app starts, stopped on shutdown (uvicorn turns
SIGTERM/SIGINT into that shutdown), so ``airpool serve`` stops cleanly.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airpool.api import health, schema, streams, ws
from airpool.api.context import AppState
from airpool.api.graphql_http import GraphQLEndpoint
from airpool.api.metrics import Metrics
from airpool.services.platform import Platform

log = logging.getLogger("airpool.api")

GRAPHQL_PATH = "/v1"
#: Where Houston serves subscriptions (graphql-ws); the astro CLI derives it from the platform's domain.
SUBSCRIPTIONS_PATH = "/ws"


class BackgroundTask(Protocol):
    """Something that runs beside the app: ``start`` returns at once, ``stop`` returns when it has stopped."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


def ui_routes(platform: Platform) -> list[BaseRoute]:
    """The web UI's pages, mounted into this same app (after the API's routes, so ``/v1`` and health stay ours)."""
    from airpool import ui

    return list(ui.routes(platform))


def create_app(
    platform: Platform,
    *,
    background: Sequence[BackgroundTask] = (),
    with_ui: bool = True,
    extra_routes: Sequence[BaseRoute] = (),
    debug: bool = False,
) -> Starlette:
    state = AppState(platform=platform)
    metrics = Metrics(platform=platform)
    graphql = GraphQLEndpoint(
        schema=schema.executable_schema(),
        state=state,
        shortcuts=schema.SHORTCUTS,
        non_blocking=schema.NON_BLOCKING,
        debug=debug,
    )
    subscriptions = ws.GraphQLWebSocket(schema=schema.executable_schema(), state=state)
    routes: list[BaseRoute] = [
        Route(GRAPHQL_PATH, graphql.handle, methods=["GET", "POST"]),
        WebSocketRoute(SUBSCRIPTIONS_PATH, subscriptions.handle),
        WebSocketRoute(GRAPHQL_PATH, subscriptions.handle),
        *health.routes(state=state, metrics=metrics),
        *extra_routes,
    ]
    if with_ui:
        routes.extend(ui_routes(platform))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        started: list[BackgroundTask] = []
        try:
            for task in background:
                await anyio.to_thread.run_sync(task.start)
                started.append(task)
                log.info("started %s", task.name)
            with streams.ended_on_stop_signals():  # live log tails end at once instead of holding up the stop
                yield
        finally:
            for task in reversed(started):
                log.info("stopping %s", task.name)
                await anyio.to_thread.run_sync(task.stop)
            await anyio.to_thread.run_sync(graphql.close)

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(_Timed, metrics=metrics)],
        exception_handlers={ClientDisconnect: _client_gone},
        debug=False,
    )
    app.state.airpool = state
    app.state.metrics = metrics
    return app


async def _client_gone(_request: Request, _exc: Exception) -> Response:
    """The client closed its connection before its request's body was in: nobody reads an answer, and it is no
    error of the server's (it was logged as ``Exception in ASGI application`` with a traceback)."""
    return Response(status_code=400)


class _Timed:
    """Observes each HTTP request's latency, labelled by route template (not the raw path: bounded cardinality)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            self.metrics.observe_request(
                route=str(getattr(route, "path", "other")),
                method=scope["method"],
                status=status,
                seconds=time.perf_counter() - started,
            )
