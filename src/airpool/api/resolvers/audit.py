"""``auditEvents``: who did what, newest first (system admins: everything; workspace admins: their workspace)."""

from __future__ import annotations

from typing import Any

from ariadne import QueryType

from airpool.api.resolvers.common import Info, caller, platform
from airpool.services import audit
from airpool.services.views import AuditEventView

query = QueryType()

DEFAULT_TAKE = 100


@query.field("auditEvents")
def resolve_audit_events(
    _: Any, info: Info, *, workspace_uuid: str | None = None, take: int | None = None
) -> list[AuditEventView]:
    return audit.list_events(platform(info), caller(info), limit=take or DEFAULT_TAKE, workspace_id=workspace_uuid)


BINDABLES = (query,)
