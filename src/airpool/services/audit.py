"""Audit trail: who did what to which object. Written in the same transaction as the change it records."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from airpool.domain.errors import Forbidden
from airpool.services import access, views
from airpool.store import models

if TYPE_CHECKING:
    from airpool.services.platform import Platform

SYSTEM = "system"  # actor name for changes made by commander, cleanup and config sync


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target_kind: str,
    target_id: str,
    at: datetime,
    workspace_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        models.AuditEvent(
            at=at,
            actor=actor,
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            workspace_id=workspace_id,
            detail=detail or {},
        )
    )


def list_events(
    platform: Platform,
    actor: access.Actor,
    *,
    limit: int = 100,
    workspace_id: str | None = None,
    before: int | None = None,
) -> list[views.AuditEventView]:
    """Newest first; ``before`` (an event id) pages back. System admins see everything; a workspace admin sees
    that workspace's events."""
    limit = max(1, min(limit, 1000))
    with platform.db.read() as s:
        q = sa.select(models.AuditEvent).order_by(models.AuditEvent.id.desc()).limit(limit)
        if before is not None:
            q = q.where(models.AuditEvent.id < before)
        if workspace_id is not None:
            access.require_role(s, actor, workspace_id, access.Role.ADMIN)
            q = q.where(models.AuditEvent.workspace_id == workspace_id)
        elif not actor.is_system_admin:
            raise Forbidden()
        return [views.AuditEventView.of(r) for r in s.scalars(q)]


def for_deployment(
    platform: Platform, actor: access.Actor, deployment_id: str, *, limit: int = 50
) -> list[views.AuditEventView]:
    """Newest first: the history of one Deployment, for anyone who may read its workspace."""
    from airpool.domain.errors import NotFound

    with platform.db.read() as s:
        q = (
            sa.select(models.AuditEvent)
            .where(models.AuditEvent.target_kind == "deployment", models.AuditEvent.target_id == deployment_id)
            .order_by(models.AuditEvent.id.desc())
            .limit(max(1, min(limit, 1000)))
        )
        rows = list(s.scalars(q))
        workspace_id = next((r.workspace_id for r in rows if r.workspace_id), None)
        if workspace_id is None:
            raise access.deployment_not_found(deployment_id)
        try:
            access.require_role(s, actor, workspace_id, access.Role.VIEWER)
        except NotFound:
            raise access.deployment_not_found(deployment_id) from None
        return [views.AuditEventView.of(r) for r in rows]
