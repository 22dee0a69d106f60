"""The namespace pool: ``availableNamespaces`` for users, ``poolStatus`` and ``releaseNamespace`` for admins."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType, QueryType

from airpool.api.context import RequestContext
from airpool.api.resolvers.common import Info, caller, platform
from airpool.services import pool
from airpool.services.views import NamespaceView

query = QueryType()
mutation = MutationType()
namespace_type = ObjectType("PoolNamespace")


def available(context: RequestContext) -> list[dict[str, Any]]:
    """Also ``api.fastpath``'s loader for ``availableNamespaces { name }``."""
    return [{"name": name} for name in pool.available_namespaces(context.platform, context.caller())]


@query.field("availableNamespaces")
def resolve_available_namespaces(_: Any, info: Info, *, cluster_id: str | None = None) -> list[dict[str, Any]]:
    return available(info.context)


@query.field("poolStatus")
def resolve_pool_status(
    _: Any,
    info: Info,
    *,
    take: int | None = None,
    skip: int | None = None,
    states: list[str] | None = None,
    search: str | None = None,
    sort_by: str | None = None,
    sort_desc: bool | None = None,
) -> dict[str, Any]:
    page = pool.status_page(
        platform(info),
        caller(info),
        states=states or (),
        search=search or "",
        sort=sort_by or "name",
        descending=bool(sort_desc),
        skip=skip or 0,
        take=take,
    )
    settings = platform(info).config.pool
    return {
        "enabled": settings is not None,
        "source": settings.source.value if settings else None,
        "total": page.total,
        "counts": [{"state": state, "count": n} for state, n in page.counts.by_state.items()],
        "namespaces": page.namespaces,
        "next_release": page.counts.next_release_at,
    }


@mutation.field("releaseNamespace")
def resolve_release_namespace(_: Any, info: Info, *, name: str, force: bool | None = None) -> NamespaceView:
    return pool.release_early(platform(info), caller(info), name, force=bool(force))


@namespace_type.field("since")
def resolve_since(namespace: NamespaceView, _: Info) -> Any:
    return namespace.state_since


@namespace_type.field("holder")
def resolve_holder(namespace: NamespaceView, _: Info) -> dict[str, Any] | None:
    if namespace.holder_id is None:
        return None
    return {
        "id": namespace.holder_id,
        "label": namespace.holder_label or "",
        "release_name": namespace.holder_release_name or "",
        "workspace": (
            {"id": namespace.holder_workspace_id, "label": namespace.holder_workspace_label or ""}
            if namespace.holder_workspace_id
            else None
        ),
    }


BINDABLES = (query, mutation, namespace_type)
