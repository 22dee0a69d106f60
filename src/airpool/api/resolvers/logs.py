"""Deployment logs: Houston's ``logs`` query and ``log`` subscription (served over graphql-ws by ``api.ws``).

The services check access and input and fetch the lines from commander (``services.logs``); these resolvers only
shape them as Houston's ``DeploymentLog``. The subscription streams through ``api.streams``, which checks again
every minute that the caller may still read the Deployment (a revoked token or a removed role ends the
subscription with that error).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from ariadne import QueryType, SubscriptionType

from airpool.api import streams
from airpool.api.resolvers.common import Info, caller, platform
from airpool.domain.logs import LogLine, houston_name
from airpool.services import logs

query = QueryType()
subscription = SubscriptionType()


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


@query.field("logsAbsence")
def resolve_logs_absence(
    _: Any,
    info: Info,
    *,
    deployment_uuid: str,
    component: str | None = None,
    timestamp: datetime | None = None,
    search: str | None = None,
) -> dict[str, str]:
    checked = logs.check(
        platform(info), caller(info), deployment_uuid, component=component, since=timestamp, search=search
    )
    kind, reason = logs.why_none(platform(info), checked)
    return {"kind": kind, "reason": reason}


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


async def _stream(
    plat: Any, checked: logs.LogQuery, *, release: str, recheck: Callable[[], object]
) -> AsyncIterator[dict[str, Any]]:
    async for line in streams.follow(plat, checked, recheck=recheck):
        if line is not None:
            yield {"log": shape(line, release=release, newline=True)}


subscription.set_source("log", source_log)  # type: ignore[arg-type]  # an async function returning the stream


@subscription.field("log")
def resolve_log(event: dict[str, Any], _: Info, **__: Any) -> dict[str, Any]:
    return event["log"]  # type: ignore[no-any-return]


BINDABLES = (query, subscription)
