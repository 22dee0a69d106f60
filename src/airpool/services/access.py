"""Who may do what: the caller (``Actor``), workspace roles, and the checks every service runs first.

Rules: a system admin may do anything. In a workspace, a viewer reads, an editor also creates and deletes
Deployments, an admin also manages members. Anything the caller has no role in does not exist for them: the
error is ``NotFound`` naming only the id they sent, so another workspace's names never leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from airpool.domain.errors import Forbidden, NotFound
from airpool.store import models


class Role(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


def role_allows(role: Role, minimum: Role) -> bool:
    return _RANK[role] >= _RANK[minimum]


def can_edit(role: Role | str | None, *, system_admin: bool = False) -> bool:
    """May this role create and delete Deployments? (For showing or hiding buttons; the services check again.)"""
    return system_admin or (role is not None and role_allows(Role(role), Role.EDITOR))


@dataclass(frozen=True)
class Actor:
    """The authenticated caller, from ``auth.authenticate``. Cheap to pass around; re-checked per transaction."""

    user_id: str
    username: str
    is_system_admin: bool = False


def shown(value: str, limit: int = 80) -> str:
    """A user-supplied value quoted for an error message, cut short so a 10,000-character input stays readable."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} characters)"


def workspace_not_found(workspace_id: str) -> NotFound:
    return NotFound(f"workspace {shown(workspace_id)} not found")


def deployment_not_found(deployment_id: str) -> NotFound:
    return NotFound(f"deployment {shown(deployment_id)} not found")


def role_in(session: Session, actor: Actor, workspace_id: str) -> Role | None:
    role = session.scalar(
        sa.select(models.RoleBinding.role).where(
            models.RoleBinding.workspace_id == workspace_id, models.RoleBinding.user_id == actor.user_id
        )
    )
    return Role(role) if role else None


def require_role(session: Session, actor: Actor, workspace_id: str, minimum: Role) -> models.Workspace:
    """The workspace if ``actor`` holds at least ``minimum`` there; NotFound if they hold nothing, else Forbidden."""
    row = session.execute(
        sa.select(models.Workspace, models.RoleBinding.role)
        .outerjoin(
            models.RoleBinding,
            sa.and_(
                models.RoleBinding.workspace_id == models.Workspace.id, models.RoleBinding.user_id == actor.user_id
            ),
        )
        .where(models.Workspace.id == workspace_id)
    ).first()
    if row is None:
        raise workspace_not_found(workspace_id)
    ws, role = row
    if actor.is_system_admin:
        return ws
    if role is None:
        raise workspace_not_found(workspace_id)
    if not role_allows(Role(role), minimum):
        raise Forbidden()
    return ws


def require_system_admin(actor: Actor) -> None:
    if not actor.is_system_admin:
        raise Forbidden()


def visible_workspace_ids(actor: Actor) -> sa.Select[str]:
    """Subquery of the workspaces ``actor`` may read."""
    if actor.is_system_admin:
        return sa.select(models.Workspace.id)
    return sa.select(models.RoleBinding.workspace_id).where(models.RoleBinding.user_id == actor.user_id)
