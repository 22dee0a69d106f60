"""Small helpers every resolver module shares."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from airpool.api.context import RequestContext
from airpool.services.access import Actor
from airpool.services.platform import Platform

#: What every resolver gets as its second argument.
Info = GraphQLResolveInfo[RequestContext]


def ctx(info: Info) -> RequestContext:
    return info.context


def platform(info: Info) -> Platform:
    return ctx(info).platform


def caller(info: Info) -> Actor:
    return ctx(info).caller()


def memo(info: Info, key: tuple[Any, ...], load: Any) -> Any:
    """Per-request cache, so a list of Deployments does not load their shared workspace once per row."""
    cache = ctx(info).memo
    if key not in cache:
        cache[key] = load()
    return cache[key]
