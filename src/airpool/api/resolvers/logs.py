"""Deployment logs: Houston's ``logs`` query and ``log`` subscription (served over graphql-ws by ``api.ws``).

The services check access and input and fetch the lines from commander (``services.logs``); these resolvers only
shape them as Houston's ``DeploymentLog``. The subscription's source runs the blocking stream in a thread and
hands lines to the event loop; it checks again every ``RECHECK_SECONDS`` that the caller may still read the
Deployment (a revoked token or a removed role ends the subscription with that error).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from ariadne import QueryType, SubscriptionType

from airpool.api.resolvers.common import Info, caller, platform
from airpool.domain.logs import LogLine, houston_name
from airpool.services import logs

query = QueryType()
subscription = SubscriptionType()

RECHECK_SECONDS = 60.0
_END = object()


def shape(line: LogLine, *, release: str, newline: bool = False) -> dict[str, Any]:
    return {
        "id": line.id,
        "timestamp": line.timestamp.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "release": release,
        "component": houston_name(line.component),
        "level": None,
        "message": line.message + ("\n" if newline else ""),
        "pod": line.pod,
    }


@query.field("logs")
def resolve_logs(
    _: Any,
    info: Info,
    *,
    deployment_uuid: str,
    component: str | None = None,
    timestamp: datetime | None = None,
    search: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    checked = logs.check(
        platform(info), caller(info), deployment_uuid, component=component, since=timestamp, search=search, limit=limit
    )
    return [shape(line, release=checked.release_name) for line in logs.read(platform(info), checked)]


async def source_log(
    _: Any,
    info: Info,
    *,
    deployment_uuid: str,
    component: str | None = None,
    timestamp: datetime | None = None,
    search: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Checked before the first line (errors become the answer to ``start``), then streamed."""
    plat = platform(info)

    def check(actor: Any) -> logs.LogQuery:
        return logs.check(plat, actor, deployment_uuid, component=component, since=timestamp, search=search)

    def recheck() -> None:
        """Authenticate the token again (it may have been revoked or expired) and check the role again."""
        check(dataclasses.replace(info.context).caller())

    checked = await anyio.to_thread.run_sync(check, caller(info))
    return _stream(plat, checked, release=checked.release_name, recheck=recheck)


async def _stream(plat: Any, checked: logs.LogQuery, *, release: str, recheck: Any) -> AsyncIterator[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    items: asyncio.Queue[Any] = asyncio.Queue(maxsize=10_000)
    stream = logs.follow(plat, checked)

    def put(item: Any) -> None:
        if not items.full():
            items.put_nowait(item)

    def pump() -> None:
        try:
            for line in stream:
                loop.call_soon_threadsafe(put, line)
        except Exception as exc:  # handed to the event loop and raised there
            loop.call_soon_threadsafe(put, exc)
        finally:
            loop.call_soon_threadsafe(put, _END)

    thread = threading.Thread(target=pump, name="log-subscription", daemon=True)
    thread.start()
    checked_at = time.monotonic()
    try:
        while True:
            item = await items.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            if time.monotonic() - checked_at > RECHECK_SECONDS:
                await anyio.to_thread.run_sync(recheck)
                checked_at = time.monotonic()
            if item is not None:
                yield {"log": shape(item, release=release, newline=True)}
    finally:
        stream.close()


subscription.set_source("log", source_log)  # type: ignore[arg-type]  # an async function returning the stream


@subscription.field("log")
def resolve_log(event: dict[str, Any], _: Info, **__: Any) -> dict[str, Any]:
    return event["log"]  # type: ignore[no-any-return]


BINDABLES = (query, subscription)
